"""Browser pages for getting leads in and out as CSV: upload, map columns, progress, export."""

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from leads import csv_io, imports, selectors
from leads.forms import LeadFilterForm
from leads.models import ImportStatus, LeadImport
from leads.views import MARKETING_ROLES, _campaigns, _sales_owners
from revops.tenancy.access import organization_view

PREVIEW_ROWS = 5


class UploadForm(forms.Form):
    file = forms.FileField(help_text="A CSV export with a header row, up to 20 MB.")
    preset = forms.ChoiceField(
        required=False,
        choices=[("", "Match columns by name"), ("hubspot", "HubSpot contacts export"),
                 ("salesforce", "Salesforce leads report")],
    )  # fmt: skip


def _require_marketing(request) -> None:
    if request.membership.role not in MARKETING_ROLES:
        raise PermissionDenied("Only marketing and RevOps admins import leads.")


def _import_or_404(import_id: int) -> LeadImport:
    lead_import = LeadImport.objects.filter(pk=import_id).first()
    if lead_import is None:
        raise Http404
    return lead_import


@organization_view
def import_upload(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        _require_marketing(request)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                content = upload.read().decode("utf-8-sig")
                lead_import = imports.lead_import_upload(
                    actor=request.user, filename=upload.name, content=content,
                    preset=form.cleaned_data["preset"] or None,
                )  # fmt: skip
            except UnicodeDecodeError:
                form.add_error("file", "The file is not UTF-8 text; export it as CSV (UTF-8).")
            except ValidationError as error:
                form.add_error("file", " ".join(error.messages))
            else:
                return redirect("lead_import_map", request.organization.slug, lead_import.pk)
    recent = LeadImport.objects.select_related("uploaded_by").defer("content")[:10]
    return render(request, "leads/import_upload.html", {"form": form, "imports": recent})


@organization_view
def import_map(request, import_id: int):
    lead_import = _import_or_404(import_id)
    if lead_import.status != ImportStatus.DRAFT:
        return redirect("lead_import_status", request.organization.slug, lead_import.pk)
    headers, rows = csv_io.read_csv(lead_import.content)
    mapping = lead_import.mapping
    error = None
    if request.method == "POST":
        _require_marketing(request)
        mapping = {h: request.POST.get(f"map-{i}", "") for i, h in enumerate(headers)}
        try:
            imports.lead_import_start(lead_import=lead_import, mapping=mapping)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            return redirect("lead_import_status", request.organization.slug, lead_import.pk)
    sample = [row for _, (_line, row) in zip(range(PREVIEW_ROWS), rows, strict=False)]
    columns = [
        {"index": i, "header": h, "field": mapping.get(h, ""),
         "examples": [row.get(h, "") for row in sample]}
        for i, h in enumerate(headers)
    ]  # fmt: skip
    preview = [csv_io.row_to_lead_values(row, mapping) for row in sample]
    return render(
        request,
        "leads/import_map.html",
        {
            "lead_import": lead_import,
            "columns": columns,
            "fields": csv_io.IMPORTABLE_FIELDS,
            "preview": preview,
            "preview_fields": sorted({k for values in preview for k in values}),
            "error": error,
        },
    )


@organization_view
def import_status(request, import_id: int):
    lead_import = _import_or_404(import_id)
    template = "leads/_import_progress.html" if request.htmx else "leads/import_status.html"
    return render(request, template, {"lead_import": lead_import})


@organization_view
def lead_export(request):
    """The lead list as CSV, with the list's filters, streamed; safe to open in a spreadsheet."""
    filters = LeadFilterForm(request.GET, owners=_sales_owners(), campaigns=_campaigns())
    leads = filters.filter(selectors.leads_list()).iterator(chunk_size=2000)
    response = StreamingHttpResponse(csv_io.export_lines(leads), content_type="text/csv")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = (
        f'attachment; filename="{request.organization.slug}-leads-{stamp}.csv"'
    )
    return response
