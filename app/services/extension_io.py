"""Bulk import and export of a domain's extensions, as JSON or CSV (all-or-nothing import)."""
import csv
import io

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.mirror import write
from app.mirror.effective import SECTIONS, effective
from app.errors import AppError, ValidationFailed
from app.extensions import db
from app.models import Extension, Template
from app.schemas.extension import MAX_IMPORT_ROWS, ExtensionCreate
from app.services import mirror_flush
from app.services.extension import apply_values, prepare
from app.services.sql import commit, get_domain

# CSV: one row per extension; columns name, template, enabled, then `param.<name>`,
# `variable.<name>`, `attribute.<name>`. An empty cell means "not set"; these two cells
# stand for values an empty cell cannot carry:
CSV_NULL = "\\N"   # null: hides the template's value
CSV_EMPTY = "\\E"  # the empty string
FIXED = ("name", "template", "enabled")
# Columns whose "true"/"false" cells are read as booleans (everything else stays text).
CSV_BOOLEANS = {"param.allow-empty-password", "param.sip-forbid-register"}
MAX_REPORTED = 1000


def export_extensions(domain_name: str) -> list[dict]:
    """Every extension of a domain as import rows, by name, secrets included: the view's
    schema (ExtensionRow) masks them unless an admin asked for them."""
    domain = get_domain(domain_name)
    templates = dict(db.session.execute(select(Template.id, Template.name)).all())
    rows = db.session.execute(
        select(Extension.name, Extension.template_id, Extension.enabled, Extension.param,
               Extension.variable, Extension.attribute)
        .where(Extension.domain_id == domain.id).order_by(Extension.name)).yield_per(5000)
    return [{"name": name, "template": templates.get(tid), "enabled": enabled,
             "param": param, "variable": variable, "attribute": attribute}
            for name, tid, enabled, param, variable, attribute in rows]


def _cell(value) -> str:
    if value is None:
        return CSV_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return CSV_EMPTY if value == "" else str(value)


def to_csv(rows: list[dict]) -> str:
    """Import rows as CSV text (round-trips through from_csv)."""
    extra = {(SECTIONS.index(s), k) for r in rows for s in SECTIONS for k in (r.get(s) or {})}
    columns = [f"{SECTIONS[i]}.{k}" for i, k in sorted(extra)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*FIXED, *columns])
    for r in rows:
        cells = [r["name"], r.get("template") or "", _cell(r.get("enabled", True))]
        for col in columns:
            section, key = col.split(".", 1)
            sec = r.get(section) or {}
            cells.append(_cell(sec[key]) if key in sec else "")
        writer.writerow(cells)
    return out.getvalue()


def _header(header: list[str]) -> list[tuple[str, str | None]]:
    errors, columns = [], []
    for col in header:
        if col in FIXED:
            columns.append((col, None))
        elif "." in col and col.split(".", 1)[0] in SECTIONS:
            columns.append(tuple(col.split(".", 1)))
        else:
            errors.append(f"unknown column '{col}': expected name, template, enabled, "
                          f"param.<name>, variable.<name> or attribute.<name>")
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        errors.append(f"repeated column(s): {', '.join(dupes)}")
    # FreeSWITCH compares names ignoring letter case: param.Password is param.password.
    spellings: dict[str, list[str]] = {}
    for col in dict.fromkeys(header):
        spellings.setdefault(col.lower(), []).append(col)
    for same in spellings.values():
        if len(same) > 1:
            errors.append(f"column(s) {', '.join(same)} name the same field (names are "
                          f"compared ignoring letter case); keep one")
    if "name" not in header:
        errors.append("a 'name' column is required")
    if errors:
        raise ValidationFailed("bad CSV header (line 1)", {"header": errors})
    return columns


def from_csv(text: str) -> tuple[list[dict], list[int], dict[int, dict]]:
    """Parse CSV into (rows, line of each row, errors found while parsing, by row index)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, lines, errors = [], [], {}
    try:
        header = next(reader, None)
        if header is None:
            return rows, lines, errors
        columns = _header(header)
        line = reader.line_num + 1
        for cells in reader:
            if any(cells):
                if len(cells) > len(columns):
                    errors[len(rows)] = {"_row": [f"{len(cells)} cells for {len(columns)} columns"]}
                rows.append(_row(columns, cells))
                lines.append(line)
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ValidationFailed(f"unreadable CSV at line {reader.line_num}: {exc}",
                               {"csv": [f"line {reader.line_num}: {exc}"]}) from exc
    return rows, lines, errors


def _row(columns, cells) -> dict:
    row: dict = {}
    for (col, key), cell in zip(columns, cells):
        if cell == "":
            continue
        value = None if cell == CSV_NULL else ("" if cell == CSV_EMPTY else cell)
        if key is None:
            row[col] = value
        else:
            if f"{col}.{key.lower()}" in CSV_BOOLEANS and isinstance(value, str) \
                    and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            row.setdefault(col, {})[key] = value
    return row


def import_extensions(domain_name: str, rows, mode: str = "create", lines=None,
                      parse_errors: dict | None = None) -> dict:
    """Validate every row, then write all of them in one transaction, or none (422)."""
    domain = get_domain(domain_name)
    if not isinstance(rows, list):
        raise ValidationFailed("the body must be a list of extensions",
                               {"_body": ["must be a JSON list of extension objects"]})
    if len(rows) > MAX_IMPORT_ROWS:
        raise ValidationFailed(f"at most {MAX_IMPORT_ROWS} rows per import; split the file",
                               {"_body": [f"{len(rows)} rows, at most {MAX_IMPORT_ROWS}"]})
    errors: dict[int, dict] = dict(parse_errors or {})
    existing = dict(db.session.execute(select(Extension.name, Extension.number_alias)
                                       .where(Extension.domain_id == domain.id)).all())
    current = {}
    if mode == "upsert":
        wanted = [r.get("name") for r in rows if isinstance(r, dict)]
        wanted = [n for n in wanted if isinstance(n, str) and n in existing]
        for i in range(0, len(wanted), 500):
            for ext in db.session.execute(
                    select(Extension).options(selectinload(Extension.template)).where(
                        Extension.domain_id == domain.id,
                        Extension.name.in_(wanted[i:i + 500]))).scalars():
                current[ext.name] = ext
    claims = {}  # lowercase name/alias → who holds it (an extension, or a row of this import)
    for name, alias in existing.items():
        if name not in current:
            for token in filter(None, (name, alias)):
                claims[token.lower()] = f"extension '{name}'"
    schema, templates, prepared, seen = ExtensionCreate(), {}, [], {}
    for i, raw in enumerate(rows):
        if i in errors:
            continue
        try:
            data = schema.load(raw)
            name = data["name"]
            if name in seen:
                raise ValidationFailed("duplicate", {"name": [f"also in row {seen[name]}"]})
            seen[name] = i
            if mode == "create" and name in existing:
                raise ValidationFailed("exists", {"name": [
                    "already exists (import with ?mode=upsert to replace existing extensions)"]})
            values = prepare(domain, name, current.get(name), data, merge=False,
                             templates=templates)
        except ValidationError as exc:
            errors[i] = exc.messages if isinstance(exc.messages, dict) else {"_row": exc.messages}
            continue
        except AppError as exc:
            errors[i] = exc.details or {"_row": [exc.message]}
            continue
        clash = _claim(claims, name, values["number_alias"], f"row {i}")
        if clash:
            errors[i] = clash
            continue
        prepared.append((name, values))
    if errors:
        _reject(rows, errors, lines)
    return _write(domain, prepared, current)


def _claim(claims: dict, name: str, alias: str | None, me: str) -> dict | None:
    for field, token in (("name", name), ("number-alias", alias)):
        if not token:
            continue
        holder = claims.get(token.lower())
        if holder is not None and holder != me:
            msg = [f"'{token}' is already used by {holder} (as a name or number-alias)"]
            return {"name": msg} if field == "name" else {"attribute": {"number-alias": msg}}
    for token in filter(None, (name, alias)):
        claims[token.lower()] = me
    return None


def _reject(rows, errors: dict, lines) -> None:
    report = []
    for i in sorted(errors)[:MAX_REPORTED]:
        entry = {"row": i}
        if lines:
            entry["line"] = lines[i]
        name = rows[i].get("name") if isinstance(rows[i], dict) else None
        if isinstance(name, str):
            entry["name"] = name
        entry["errors"] = errors[i]
        report.append(entry)
    raise ValidationFailed(f"{len(errors)} of {len(rows)} row(s) are invalid; nothing was "
                           f"imported", {"rows": report, "invalid_rows": len(errors)})


def _write(domain, prepared: list, current: dict) -> dict:
    """One transaction for every row, then one mirror pass, then the cache flushes."""
    flush, objects, created = [], [], 0
    for name, values in prepared:
        ext = current.get(name)
        if ext is None:
            ext = Extension(domain_id=domain.id, name=name)
            db.session.add(ext)
            created += 1
        else:
            before = effective(ext)
            if mirror_flush.cached(before):
                flush.extend(mirror_flush.lookup_names(ext, before))
        apply_values(ext, values)
        objects.append(ext)
    session = db.session()
    session.expire_on_commit = False  # the mirror reads these objects right after the commit
    try:
        commit(f"an extension of this import in '{domain.name}'")
    finally:
        session.expire_on_commit = True
    write.mirror_extensions(objects, domain.name)
    for ext in objects:
        eff = effective(ext)
        if mirror_flush.cached(eff):
            flush.extend(mirror_flush.lookup_names(ext, eff))
    mirror_flush.enqueue_flush(domain.name, flush)
    return {"created": created, "replaced": len(objects) - created, "total": len(objects)}
