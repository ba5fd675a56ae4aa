"""The dashboard's filters: the period (inclusive days, Europe/Paris) and a territory, named as in the
API's query string (`from`, `to`, `territory`) so the same values feed the CSV links."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django import forms
from django.utils.translation import gettext_lazy as _

from api.fields import (
    EARLIEST_INPUT_DATE,
    LATEST_INPUT_DATE,
    date_in_input_range,
    date_out_of_range_message,
)
from core.errors import InvalidInput
from impact.query import DEFAULT_TIME_ZONE, StatsParams

MONTHS_SHOWN = 12


class BoundedDateField(forms.DateField):
    """The API's date range (api.fields) for the dashboard: a year 9999 overflowed the statistics."""

    def validate(self, value) -> None:
        super().validate(value)
        if value is not None and not date_in_input_range(value):
            raise forms.ValidationError(date_out_of_range_message(), code="out_of_range")


def default_period(today: date) -> tuple[date, date]:
    """The current month and the eleven before it: twelve bars on the monthly chart."""
    month_index = today.year * 12 + today.month - 1 - (MONTHS_SHOWN - 1)
    return date(month_index // 12, month_index % 12 + 1, 1), today


class DashboardFilters(forms.Form):
    territory = forms.CharField(label=_("Territory"), required=False, max_length=32)

    def __init__(self, data, *, today: date):
        super().__init__(data)
        self.today = today
        # `from` is a Python keyword, hence the fields added here rather than declared.
        self.fields = {
            "from": BoundedDateField(label=_("From"), required=False),
            "to": BoundedDateField(label=_("To"), required=False),
            **self.fields,
        }

    def clean(self):
        data = super().clean()
        if not self.errors:
            data["to"] = data.get("to") or self.today
            data["from"] = data.get("from") or default_period(data["to"])[0]
        data["territory"] = (data.get("territory") or "").strip()
        return data

    def stats_params(self) -> StatsParams:
        data = self.cleaned_data
        return StatsParams(
            date_from=data["from"],
            date_to=data["to"],
            tz=DEFAULT_TIME_ZONE,
            territory=data["territory"] or None,
        )

    def add_domain_errors(self, error: InvalidInput) -> None:
        """The selectors' own checks (period inverted or too long…) shown on the fields they name."""
        for name, messages in (error.field_errors or {None: [error.message]}).items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)

    @property
    def date_bounds(self) -> dict:
        """For the date inputs' min and max: the browser then offers only what the server accepts."""
        return {"min": EARLIEST_INPUT_DATE.isoformat(), "max": LATEST_INPUT_DATE.isoformat()}

    @property
    def shown(self) -> dict:
        """What the filter inputs show: the period in force, or what was typed when it is invalid."""
        if self.is_valid():
            data = self.cleaned_data
            return {
                "from": data["from"].isoformat(),
                "to": data["to"].isoformat(),
                "territory": data["territory"],
            }
        return {name: self.data.get(name, "") for name in ("from", "to", "territory")}

    def query(self, **extra) -> str:
        """The filters as a query string, for the CSV links."""
        data = self.cleaned_data
        pairs = [("from", data["from"].isoformat()), ("to", data["to"].isoformat())]
        if data["territory"]:
            pairs.append(("territory", data["territory"]))
        return urlencode(pairs + list(extra.items()))
