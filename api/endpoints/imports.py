"""File imports of offers: a firm sends its stock as a CSV or XLSX file with a column mapping (given, or
saved per organisation and named), and a worker turns each row into an offer through the bulk upsert
(exchange.imports). Who may: as for creating offers; read keys read."""

from __future__ import annotations

import json

from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from exchange import imports
from exchange.models import ImportFormat, ImportMapping, ImportStatus, OfferImport

from ..actors import actor_of
from ..created import created
from ..errors import problem_response
from ..idempotency import idempotent
from ..inputs import validated

IMPORT_STATUS = {"too_large": 413, "unsupported_type": 415, "invalid": 400}
TARGETS = ", ".join(f"`{name}`" for name in imports.TARGET_FIELDS)
MAPPING_RULES = (
    f"`columns` maps offer fields ({TARGETS}) to the header of the column holding each, and must map "
    "`external_ref`, the key of each row; headers match whatever their case and spacing. `defaults` gives "
    "values for fields no column holds, or whose cell is blank (e.g. `unit`, `condition`, `site`, "
    "`category`, `status`: `published` publishes each offer). Cells are read by the type of their field: "
    "decimals with a point or a comma (`12,5`), ids, `true`/`false` or `oui`/`non`, dates as 2026-12-31, "
    "2026-12-31T18:00 or 31/12/2026; `category` takes a category id or key."
)


# ---- mappings -------------------------------------------------------------------------------------


class ImportMappingOut(serializers.Serializer):
    id = serializers.IntegerField()
    organisation = serializers.IntegerField(source="organisation_id")
    name = serializers.CharField()
    columns = serializers.DictField(child=serializers.CharField(), help_text="Offer field → column header.")
    defaults = serializers.DictField(child=serializers.JSONField(), help_text="Offer field → value.")
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ImportMappingCreateIn(serializers.Serializer):
    organisation = serializers.IntegerField(
        required=False, help_text="The organisation; optional when you belong to only one."
    )
    name = serializers.CharField(max_length=100, help_text="Unique in your organisation.")
    columns = serializers.DictField(child=serializers.CharField(max_length=200))
    defaults = serializers.DictField(child=serializers.JSONField(), required=False, default=dict)


class ImportMappingUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    columns = serializers.DictField(child=serializers.CharField(max_length=200))
    defaults = serializers.DictField(child=serializers.JSONField())


class ImportMappingListView(ListAPIView):
    serializer_class = ImportMappingOut

    def get_queryset(self):
        return imports.import_mappings_of(actor=actor_of(self.request)).order_by("-id")

    @extend_schema(operation_id="import_mappings_list", summary="Your organisations' import mappings")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="import_mappings_create",
        summary="Save an import mapping",
        description=(
            "Who may: as for POST offers/. A name another mapping of the organisation has is a 400 "
            "`validation_error` on `name`. " + MAPPING_RULES
        ),
        request=ImportMappingCreateIn,
        responses={201: ImportMappingOut},
    )
    @idempotent
    def post(self, request):
        data = validated(ImportMappingCreateIn, request)
        mapping = imports.import_mapping_create(
            actor=actor_of(request), organisation_id=data.pop("organisation", None), **data
        )
        return created(
            request, ImportMappingOut(mapping).data, "import-mapping-detail", mapping_id=mapping.pk
        )


class ImportMappingDetailView(GenericAPIView):
    serializer_class = ImportMappingOut

    def _mapping(self, request, mapping_id: int) -> ImportMapping:
        return imports.import_mapping_get(actor=actor_of(request), mapping_id=mapping_id)

    @extend_schema(operation_id="import_mappings_retrieve", summary="An import mapping")
    def get(self, request, mapping_id: int):
        return Response(ImportMappingOut(self._mapping(request, mapping_id)).data)

    @extend_schema(
        operation_id="import_mappings_update",
        summary="Change an import mapping",
        description="Any of `name`, `columns`, `defaults`; imports already sent keep what they used. "
        + MAPPING_RULES,
        request=ImportMappingUpdateIn,
        responses={200: ImportMappingOut},
    )
    def patch(self, request, mapping_id: int):
        self._mapping(request, mapping_id)
        data = validated(ImportMappingUpdateIn, request, partial=True)
        mapping = imports.import_mapping_update(actor=actor_of(request), mapping_id=mapping_id, **data)
        return Response(ImportMappingOut(mapping).data)

    @extend_schema(
        operation_id="import_mappings_destroy", summary="Delete an import mapping", responses={204: None}
    )
    def delete(self, request, mapping_id: int):
        self._mapping(request, mapping_id)
        imports.import_mapping_delete(actor=actor_of(request), mapping_id=mapping_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- imports --------------------------------------------------------------------------------------


class ImportRowErrorOut(serializers.Serializer):
    row = serializers.IntegerField(help_text="As a spreadsheet numbers it: the header is row 1.")
    column = serializers.CharField(allow_null=True, help_text="The column's header; null for a default.")
    field = serializers.CharField(help_text="The offer field; empty when the row as a whole is refused.")
    code = serializers.CharField()
    message = serializers.CharField()


class ImportCountsOut(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="Rows refused.")  # type: ignore[assignment]  # a declared field, not Serializer.errors


class ImportFailureOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class OfferImportOut(serializers.Serializer):
    id = serializers.IntegerField()
    organisation = serializers.IntegerField(source="organisation_id")
    status = serializers.ChoiceField(choices=ImportStatus.choices)
    filename = serializers.CharField()
    format = serializers.ChoiceField(source="file_format", choices=ImportFormat.choices)
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    mapping = serializers.SerializerMethodField(help_text="The saved mapping used, by name; null if given.")
    columns = serializers.DictField(child=serializers.CharField(), help_text="As used (a snapshot).")
    defaults = serializers.DictField(child=serializers.JSONField())
    rows_total = serializers.IntegerField(help_text="Rows of the file that are not blank, header aside.")
    rows_processed = serializers.IntegerField()
    counts = serializers.SerializerMethodField()
    errors = ImportRowErrorOut(  # type: ignore[assignment]  # a declared field, not Serializer.errors
        many=True,
        help_text=f"Row errors in row order, the first {imports.MAX_STORED_ERRORS} (counts.errors has all).",
    )
    failure = serializers.SerializerMethodField(help_text="Why the import failed as a whole; null otherwise.")
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_mapping(self, job: OfferImport) -> str | None:
        return job.mapping_name or None

    @extend_schema_field(ImportCountsOut)
    def get_counts(self, job: OfferImport) -> dict:
        return imports.import_counts(job)

    @extend_schema_field(ImportFailureOut(allow_null=True))
    def get_failure(self, job: OfferImport) -> dict | None:
        if job.status != ImportStatus.FAILED:
            return None
        return {"code": job.failure_code, "message": job.failure_message}


class OfferImportCreateIn(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV (UTF-8, with or without BOM, or Windows-1252; `;`, `,` or tab) or XLSX (first sheet); "
        "the first row names the columns. At most BOUCLE_IMPORT_MAX_BYTES and BOUCLE_IMPORT_MAX_ROWS rows."
    )
    mapping = serializers.CharField(max_length=100, required=False, help_text="The name of a saved mapping.")
    columns = serializers.CharField(
        required=False, help_text='Instead of `mapping`: a JSON object, e.g. {"external_ref": "Réf."}.'
    )
    defaults = serializers.CharField(required=False, help_text="With `columns`: a JSON object.")
    organisation = serializers.IntegerField(
        required=False, help_text="The offering organisation; optional when you belong to only one."
    )

    def _json_object(self, value: str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise serializers.ValidationError("A JSON object.")
        return parsed

    def validate_columns(self, value: str) -> dict:
        return self._json_object(value)

    def validate_defaults(self, value: str) -> dict:
        return self._json_object(value)


LOCATION_202 = OpenApiParameter(
    name="Location",
    type=OpenApiTypes.URI,
    location=OpenApiParameter.HEADER,
    response=[202],
    description="The import's URL (absolute): follow it for its progress.",
)


class OfferImportListView(ListAPIView):
    serializer_class = OfferImportOut
    parser_classes = [MultiPartParser]  # the one route taking multipart besides photos

    def get_queryset(self):
        return imports.offer_imports_of(actor=actor_of(self.request))

    @extend_schema(operation_id="offer_imports_list", summary="Your organisations' file imports")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="offer_imports_create",
        summary="Import offers from a CSV or XLSX file",
        description=(
            "multipart/form-data: the `file`, and either `mapping` (a saved mapping's name) or `columns` "
            "(with optional `defaults`) as JSON. Who may: as for POST offers/. The file and the mapping are "
            "checked at once, nothing is stored otherwise: 413 `import_file_too_large`; 415 "
            "`unsupported_import_format` (neither XLSX nor text in UTF-8 or Windows-1252); 400 "
            "`import_file_empty`, `import_file_unreadable`, `import_too_many_rows` (`max_rows`), "
            "`unknown_import_column` (a field error on `columns.<field>` for each column the header lacks, "
            "and the file's `headers`), or `validation_error` (an unknown `mapping` name, a bad `columns`). "
            "Answers 202 with the import, `queued`; a worker then upserts its rows by `external_ref` in "
            "batches, exactly as POST offers/bulk/ does, and `GET imports/{id}/` shows the progress, the "
            "counts and the row errors (row number as in a spreadsheet, field and code). The same file "
            "twice creates nothing new: every row is `unchanged`. Records `import.finished` at the end. "
            + MAPPING_RULES
        ),
        request={"multipart/form-data": OfferImportCreateIn},
        parameters=[LOCATION_202],
        responses={202: OfferImportOut},
    )
    @idempotent
    def post(self, request):
        data = validated(OfferImportCreateIn, request)
        upload = data["file"]  # within BOUCLE_MAX_REQUEST_BYTES (api.middleware)
        try:
            job = imports.offer_import_create(
                actor=actor_of(request),
                organisation_id=data.get("organisation"),
                content=upload.read(),
                filename=upload.name or "",
                mapping=data.get("mapping"),
                columns=data.get("columns"),
                defaults=data.get("defaults"),
            )
        except imports.ImportRejected as exc:
            return self._rejected(request, exc)
        response = Response(OfferImportOut(job).data, status=status.HTTP_202_ACCEPTED)
        response["Location"] = request.build_absolute_uri(
            reverse("api:import-detail", kwargs={"import_id": job.pk})
        )
        return response

    @staticmethod
    def _rejected(request, exc: imports.ImportRejected):
        return problem_response(
            request,
            IMPORT_STATUS[exc.reason],
            exc.code,
            exc.message,
            errors=[{"field": "file", "code": exc.code, "message": exc.message}],
            extra=exc.extra,
        )


class OfferImportDetailView(GenericAPIView):
    serializer_class = OfferImportOut

    @extend_schema(
        operation_id="offer_imports_retrieve",
        summary="A file import: progress, counts and row errors",
        description="`status` goes queued → running → finished, or failed (with `failure`) when the import "
        "could not run at all (the key that sent it was revoked, the organisation may no longer offer…).",
    )
    def get(self, request, import_id: int):
        job = imports.offer_import_get(actor=actor_of(request), import_id=import_id)
        return Response(OfferImportOut(job).data)


urlpatterns = [
    path("imports/", OfferImportListView.as_view(), name="imports"),
    path("imports/<int:import_id>/", OfferImportDetailView.as_view(), name="import-detail"),
    path("import-mappings/", ImportMappingListView.as_view(), name="import-mappings"),
    path(
        "import-mappings/<int:mapping_id>/", ImportMappingDetailView.as_view(), name="import-mapping-detail"
    ),
]
