"""Template filters for the dashboard's numbers (see web.formatting)."""

from django import template

from web import formatting, language

register = template.Library()


@register.filter
def tonnes(value):
    return formatting.tonnes(value)


@register.filter
def tonnes_co2e(value_kg):
    """kg of CO2e shown in tonnes of CO2e."""
    return formatting.tonnes_from_kg(value_kg, "t\u00a0CO\u2082e")


@register.filter
def count(value):
    return formatting.number(value, 0)


@register.filter
def decimal(value, places=1):
    return formatting.number(value, int(places))


@register.filter
def percent(value):
    return formatting.percent(value)


@register.filter
def tonnes_from_kg(value_kg):
    return formatting.tonnes_from_kg(value_kg)


@register.simple_tag(takes_context=True)
def language_links(context):
    return language.language_links(context["request"])
