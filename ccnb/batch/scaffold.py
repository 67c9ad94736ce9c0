"""``ccnb new``: a first params file for a client, guessed from their transaction export.

``ccnb new``, the on-boarding step (README, "Adding a client"): reads the
header and a sample of rows (csv, xlsx, parquet), guesses the column mapping, the date format
and the decimal separator, and writes a commented YAML whose guesses the consultant checks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ccnb import client_files, engine

__all__ = [
    "CHECK_MARKER",
    "DATE_FORMATS",
    "Guess",
    "Scaffold",
    "guess",
    "guess_columns",
    "guess_business",
    "guess_date_format",
    "guess_non_product_codes",
    "guess_separators",
    "params_yaml",
    "read_sample",
    "scaffold_params",
    "unreviewed_keys",
]

SAMPLE_ROWS = 500
"""Rows read from the top of the file to guess from."""

DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%Y%m%d", "%d.%m.%Y", "%Y/%m/%d")
"""Date formats tried after ISO, in order of preference when several fit the sample."""

_TIME_SUFFIXES = ("", " %H:%M:%S", " %H:%M")
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

# Column names per field of the transaction contract, compared without case and punctuation:
# English, Dutch, German and the usual export spellings. Exact names win over contained words.
_EXACT_NAMES = {
    "customer_id": (
        "customerid customer customerno customernumber custid custno clientid client "
        "clientno clientnumber klant klantid klantnr klantnummer kunde kundeid kundenid "
        "kundennr kundennummer memberid member membernumber userid user accountid buyerid"
    ),
    "date": (
        "date orderdate datum besteldatum bestelldatum createdat created transactiondate "
        "purchasedate invoicedate factuurdatum rechnungsdatum orderdatum timestamp day dag"
    ),
    "amount": (
        "amount revenue total sales bedrag umsatz net netamount netrevenue netto betrag "
        "omzet value turnover linetotal totalprice ordertotal totaal gesamt summe"
    ),
    "order_id": (
        "orderid order orderno ordernumber ordernr ordernummer bestelnummer bestelling "
        "bestellnummer bestellung invoice invoiceid invoiceno invoicenumber factuur "
        "factuurnummer rechnung rechnungsnummer transactionid receipt receiptno"
    ),
    "channel": "channel saleschannel kanaal verkoopkanaal kanal vertriebskanal",
    "quantity": "qty quantity aantal anzahl menge units stuks stueck",
    "unit_price": (
        "price unitprice prijs stukprijs eenheidsprijs preis einzelpreis stueckpreis itemprice"
    ),
    "product": (
        "product productid productcode sku stockcode itemcode item itemid article articleno "
        "artikel artikelnummer artikelnr artnr code"
    ),
    "description": (
        "description productname itemname itemdescription omschrijving beschreibung "
        "artikelbezeichnung bezeichnung"
    ),
}
_EXACT = {field: set(names.split()) for field, names in _EXACT_NAMES.items()}
# Words contained in longer names, tried field by field in this order (a "Bestelldatum" is a
# date before it is an order, a "total_price" an amount before a unit price).
_CONTAINED = (
    ("date", ("date", "datum")),
    ("customer_id", ("customer", "client", "klant", "kunde", "member", "user")),
    ("quantity", ("qty", "quantity", "aantal", "anzahl", "menge")),
    ("amount", ("amount", "revenue", "total", "sales", "bedrag", "umsatz", "betrag", "omzet")),
    ("unit_price", ("price", "prijs", "preis")),
    ("order_id", ("order", "invoice", "bestel", "factuur", "rechnung")),
    ("channel", ("channel", "kanaal", "kanal")),
    ("description", ("description", "omschrijving", "beschreibung", "bezeichnung")),
    ("product", ("sku", "stockcode", "product", "artikel")),
)
_FIELDS = (
    "customer_id",
    "date",
    "amount",
    "order_id",
    "channel",
    "quantity",
    "unit_price",
    "product",
    "description",
)

#: words in a description that mark a line as no product sold
_NON_PRODUCT_WORDS = re.compile(
    r"postage|carriage|shipping|delivery|freight|\bfee\b|fees|charges?\b|discount|manual|"
    r"adjust|commission|verzend|porto|versand|gebühr|korting|rabatt",
    re.IGNORECASE,
)

#: median units per line from which an export looks like trade (business customers)
B2B_UNITS_PER_LINE = 12
_CURRENCIES = {"€": "EUR", "$": "USD", "£": "GBP", "EUR": "EUR", "USD": "USD", "GBP": "GBP"}


@dataclass
class Guess:
    """What `scaffold_params` guessed from a transaction export.

    Attributes
    ----------
    columns
        Contract field (customer_id, date, amount, order_id, channel, quantity, unit_price)
        -> column of the file, or None.
    date_format
        strftime format of the dates, or None for ISO dates.
    decimal, thousands
        Separators of text amounts.
    delimiter
        CSV delimiter when it is not a comma, else None.
    encoding
        CSV encoding when it is not UTF-8, else None.
    skip_rows
        Title lines above the header.
    sheet
        The xlsx sheet, when the workbook has more than one.
    currency
        ISO code from currency symbols in the amounts, else EUR.
    examples
        Field -> first sample value of its column, to show next to the guess.
    notes
        What the consultant should check.
    business
        ``"b2b"`` when lines carry many units (median at least `B2B_UNITS_PER_LINE`), else
        ``"b2c"``.
    non_product_codes
        Product codes that look like postage, fees or adjustments rather than products.
    """

    columns: dict[str, str | None]
    date_format: str | None = None
    decimal: str = "."
    thousands: str = ","
    delimiter: str | None = None
    encoding: str | None = None
    skip_rows: int = 0
    sheet: str | None = None
    currency: str = "EUR"
    examples: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    business: str = "b2c"
    non_product_codes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Scaffold:
    """A scaffolded params file: where it was written, its text and the guesses behind it."""

    path: Path
    text: str
    guess: Guess


# --- reading a sample ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """The first rows of an export and how the file is laid out.

    Attributes
    ----------
    frame : pandas.DataFrame
        The rows, every column as ``str`` (empty string for missing values), header names
        trimmed.
    delimiter : str or None
        The CSV delimiter, None for other formats.
    encoding : str or None
        The CSV's text encoding (``ccnb.client_files.detect_encoding``).
    skip_rows : int
        Title lines (or sheet rows) above the header.
    sheet : str or None
        The xlsx sheet read; ``sheets`` lists them all.
    sheets : list of str
        Every sheet of an xlsx workbook.
    """

    frame: pd.DataFrame
    delimiter: str | None = None
    encoding: str | None = None
    skip_rows: int = 0
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)


def _csv_sample(path: Path, rows: int) -> Sample:
    encoding = client_files.detect_encoding(path)
    skip = client_files.detect_title_lines(path, encoding=encoding)
    delimiter = client_files.detect_delimiter(path, encoding=encoding, skip_rows=skip)
    frame = pd.read_csv(
        path,
        sep=delimiter,
        dtype=str,
        keep_default_na=False,
        nrows=rows,
        skiprows=skip,
        encoding=encoding,
        on_bad_lines="skip",  # counted as malformed_row by the check, not guessed from
        engine="python",
    )
    frame.columns = [str(name).strip() for name in frame.columns]
    # A short line's missing fields are NaN (empty fields are ""): such lines are not guessed
    # from (the check counts them as malformed_row or totals_row).
    frame = frame.dropna().reset_index(drop=True)
    return Sample(frame=frame, delimiter=delimiter, encoding=encoding, skip_rows=skip)


def _sheet_title_rows(grid: pd.DataFrame) -> int:
    """Rows above a sheet's header: before the first row as full as the rows below it."""
    filled = grid.notna().sum(axis=1).tolist()
    for skip in range(min(5, max(len(filled) - 2, 0))):
        body = filled[skip + 1 :]
        typical = max(set(body), key=body.count) if body else 0
        if typical > 1 and filled[skip] >= typical:
            return skip
    return 0


def _sheet_sample(path: Path, rows: int, sheet: str | None) -> Sample:
    with pd.ExcelFile(path) as book:
        sheets = [str(name) for name in book.sheet_names]
    if sheet is not None and sheet not in sheets:
        raise ValueError(f"{path.name} has no sheet {sheet!r}; its sheets are {sheets}")
    candidates = [sheet] if sheet is not None else sheets
    best = None
    for name in candidates:
        grid = pd.read_excel(path, sheet_name=name, header=None, nrows=rows, dtype=object)
        skip = _sheet_title_rows(grid)
        frame = engine.read_sheet(path, sheet=name, skip_rows=skip).head(rows)
        frame = frame.fillna("").astype(str)
        found, _ = guess_columns(frame) if len(frame.columns) else ({}, [])
        score = sum(found.get(key) is not None for key in ("customer_id", "date", "amount"))
        if best is None or score > best[0]:
            best = (score, Sample(frame=frame, skip_rows=skip, sheet=name, sheets=sheets))
    return best[1]


def read_sample(path: str | Path, *, rows: int = SAMPLE_ROWS, sheet: str | None = None) -> Sample:
    """Read the header and the first rows of a transaction export, every value as text.

    Parameters
    ----------
    path
        A csv/txt/tsv (optionally gzipped), xlsx or parquet file.
    rows
        Rows to read.
    sheet
        The xlsx sheet; by default the one whose columns look most like transactions
        (customer id, date, amount found).

    Returns
    -------
    Sample
        The rows and the file's layout: encoding, delimiter and title lines of a CSV (see
        ``ccnb.client_files``), the sheet of a workbook.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the file type is not supported, or the sheet does not exist.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"transactions file {path} not found")
    lower = path.name.lower()
    if lower.endswith((".csv", ".txt", ".tsv", ".csv.gz", ".txt.gz", ".tsv.gz")):
        return _csv_sample(path, rows)
    if lower.endswith((".xlsx", ".xlsm")):
        return _sheet_sample(path, rows, sheet)
    if lower.endswith(".parquet"):
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows), None)
        frame = batch.to_pandas() if batch is not None else pd.DataFrame()
        return Sample(frame=frame.astype(str).replace({"None": "", "NaT": "", "nan": ""}))
    raise ValueError(
        f"cannot read {path}: use a .csv, .txt, .tsv (optionally .gz), .xlsx or .parquet"
    )


# --- guessing ------------------------------------------------------------------------------


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower().replace("ü", "ue").replace("ä", "ae"))


def _values(sample: pd.DataFrame, column: str) -> list[str]:
    return [value.strip() for value in sample[column].astype(str) if value.strip()]


def _parses(value: str, date_format: str) -> bool:
    try:
        dt.datetime.strptime(value, date_format)
    except ValueError:
        return False
    return True


def guess_date_format(values: list[str]) -> tuple[str | None, list[str]]:
    """Find the date format that parses every sample value.

    Parameters
    ----------
    values
        Non-empty date texts from the sample.

    Returns
    -------
    date_format : str or None
        None when every value is an ISO date or timestamp; else the first of `DATE_FORMATS`
        (optionally followed by a time) that parses all values; None too when nothing fits
        (then ``fits`` is empty).
    fits : list of str
        Every format that parses all values (``"ISO"`` for ISO dates); more than one means the
        sample is ambiguous (e.g. every day is 12 or less).
    """
    if not values:
        return None, []
    fits = ["ISO"] if all(_ISO_DATE.match(value) for value in values) else []
    for date_format in DATE_FORMATS:
        for suffix in _TIME_SUFFIXES:
            candidate = date_format + suffix
            if all(_parses(value, candidate) for value in values):
                fits.append(candidate)
    if not fits or fits[0] == "ISO":
        return None, fits
    return fits[0], fits


def _date_share(values: list[str]) -> float:
    """Share of values parsing with the best single format."""
    if not values:
        return 0.0
    formats = [d + s for d in DATE_FORMATS for s in _TIME_SUFFIXES]
    best = sum(1 for value in values if _ISO_DATE.match(value))
    for date_format in formats:
        best = max(best, sum(_parses(value, date_format) for value in values))
    return best / len(values)


def _strip_money(value: str) -> str:
    return re.sub(r"^[^\d+\-(]+|[^\d)]+$", "", value.strip())


def guess_separators(values: list[str]) -> tuple[str, str, list[str]]:
    """Guess the decimal and thousands separators of text amounts.

    ``1.234,50`` and ``12,5`` vote for a decimal comma, ``1,234.50`` and ``12.5`` for a
    decimal point; ``1,234`` and ``1.234`` are ambiguous and do not vote.

    Parameters
    ----------
    values
        Non-empty amount texts from the sample.

    Returns
    -------
    decimal : str
        ``","`` or ``"."``.
    thousands : str
        The other separator, or ``" "``/``"'"`` when amounts are grouped that way.
    notes : list of str
        Doubts worth checking.
    """
    comma = point = ambiguous = 0
    spaces = apostrophes = False
    for value in values:
        text = _strip_money(value).strip("()+-")
        spaces = spaces or bool(re.search(r"\d[ \u00a0]\d{3}", text))
        apostrophes = apostrophes or bool(re.search(r"\d'\d{3}", text))
        text = re.sub(r"[ \u00a0']", "", text)
        last_comma, last_point = text.rfind(","), text.rfind(".")
        if last_comma >= 0 and last_point >= 0:
            comma, point = (comma + 1, point) if last_comma > last_point else (comma, point + 1)
        elif last_comma >= 0 or last_point >= 0:
            separator = "," if last_comma >= 0 else "."
            if text.count(separator) > 1:  # 1,234,567: grouping, so the other is the decimal
                comma, point = (comma, point + 1) if separator == "," else (comma + 1, point)
            elif re.fullmatch(rf"\d{{1,3}}{re.escape(separator)}\d{{3}}", text):
                ambiguous += 1  # 1,234 or 1.234: thousands, or three decimals
            else:
                comma, point = (comma + 1, point) if separator == "," else (comma, point + 1)
    notes = []
    decimal = "," if comma > point else "."
    if comma and point:
        notes.append(
            f"amounts use both ',' ({comma} values) and '.' ({point} values) as decimal "
            f"separator; chose {decimal!r}"
        )
    elif ambiguous and not (comma or point):
        notes.append(
            "amounts like '1,234' or '1.234' could be thousands or decimals; chose decimal '.'"
        )
    thousands = "." if decimal == "," else ","
    if spaces:
        thousands = " "
    elif apostrophes:
        thousands = "'"
    return decimal, thousands, notes


def _is_number(value: str, *, decimal: str, thousands: str) -> bool:
    text = _strip_money(value)
    text = text.strip("()")
    if thousands:
        text = text.replace(thousands, "")
    text = text.replace(decimal, ".")
    try:
        float(text)
    except ValueError:
        return False
    return True


def _by_name(columns: list[str]) -> dict[str, str | None]:
    mapping: dict[str, str | None] = dict.fromkeys(_FIELDS)
    used: set[str] = set()
    for column in columns:
        for field_name, names in _EXACT.items():
            if mapping[field_name] is None and column not in used and _key(column) in names:
                mapping[field_name] = column
                used.add(column)
    for field_name, words in _CONTAINED:
        if mapping[field_name] is not None:
            continue
        for column in columns:
            if column not in used and any(word in _key(column) for word in words):
                mapping[field_name] = column
                used.add(column)
                break
    return mapping


def _by_values(sample: pd.DataFrame, mapping: dict[str, str | None], notes: list[str]) -> None:
    """Check name guesses against the values and fill missing required fields from values."""
    free = [column for column in sample.columns if column not in mapping.values()]
    date = mapping["date"]
    if date is not None and _date_share(_values(sample, date)) < 0.9:
        notes.append(f"column {date!r} is named like a date but its values mostly are not")
    if date is None:
        found = next((c for c in free if _date_share(_values(sample, c)) >= 0.9), None)
        if found:
            mapping["date"] = found
            free.remove(found)
            notes.append(f"date: no column is named like a date; {found!r} holds dates")
    if mapping["amount"] is None and not (mapping["quantity"] and mapping["unit_price"]):
        numeric = [
            c
            for c in free
            if _values(sample, c)
            and all(
                _is_number(v, decimal=".", thousands="") or _is_number(v, decimal=",", thousands="")
                for v in _values(sample, c)
            )
            and any(re.search(r"[.,]\d{1,2}$", v) for v in _values(sample, c))
        ]
        if numeric:
            mapping["amount"] = numeric[0]
            free.remove(numeric[0])
            notes.append(f"amount: no column is named like an amount; {numeric[0]!r} holds money")
    if mapping["customer_id"] is None:
        repeated = [
            c
            for c in free
            if _values(sample, c)
            and sample[c].nunique() < len(sample)
            and _date_share(_values(sample, c)) < 0.5
        ]
        if repeated:
            mapping["customer_id"] = repeated[0]
            notes.append(
                f"customer_id: no column is named like a customer id; guessed {repeated[0]!r} "
                "(repeated values)"
            )


def guess_columns(sample: pd.DataFrame) -> tuple[dict[str, str | None], list[str]]:
    """Map the file's columns to the transaction contract, from their names and values.

    Names are compared without case and punctuation against English, Dutch and German
    synonyms (customer/client/klant/kunde/member/user id; date/order_date/datum/created_at;
    amount/revenue/total/sales/bedrag/umsatz/net; order/invoice/bestelling; qty/aantal;
    price/unit_price). Required fields without a matching name are looked for in the values
    (dates, money, repeated ids). ``amount`` is left unmapped when quantity and unit price
    are found without an amount column, so the data layer derives it.

    Parameters
    ----------
    sample
        The sample rows (text).

    Returns
    -------
    mapping : dict
        Field -> column or None, for every field of `ccnb.params.ColumnMapping`.
    notes : list of str
        Doubts worth checking.
    """
    notes: list[str] = []
    mapping = _by_name([str(column) for column in sample.columns])
    _by_values(sample, mapping, notes)
    for required in ("customer_id", "date"):
        if mapping[required] is None:
            notes.append(f"{required}: no column found; set it by hand")
    if mapping["amount"] is None:
        if mapping["quantity"] and mapping["unit_price"]:
            notes.append(
                f"amount: no amount column; derived as {mapping['quantity']!r} x "
                f"{mapping['unit_price']!r}"
            )
        else:
            notes.append("amount: no column found; set it (or quantity and unit_price) by hand")
    return mapping, notes


def _currency(values: list[str]) -> str | None:
    for value in values:
        for symbol, code in _CURRENCIES.items():
            if symbol in value:
                return code
    return None


def guess(sample: pd.DataFrame, *, delimiter: str | None = None) -> Guess:
    """Guess mapping, date format, separators and currency from a sample.

    Parameters
    ----------
    sample
        The sample rows (text), see `read_sample`.
    delimiter
        The CSV delimiter found while reading.

    Returns
    -------
    Guess
        The guesses and what to check.
    """
    mapping, notes = guess_columns(sample)
    result = Guess(columns=mapping, delimiter=delimiter if delimiter not in (None, ",") else None)
    result.examples = {
        name: _values(sample, column)[0]
        for name, column in mapping.items()
        if column is not None and _values(sample, column)
    }
    if mapping["date"] is not None:
        result.date_format, fits = guess_date_format(_values(sample, mapping["date"]))
        if not fits:
            notes.append(
                f"date: no known format parses every value of {mapping['date']!r}; "
                "set date_format by hand (strftime, e.g. '%d/%m/%Y')"
            )
        elif len(fits) > 1:
            alternatives = ", ".join(fit for fit in fits[1:])
            notes.append(
                f"date format is ambiguous in the sample: chose {fits[0]}, also fits "
                f"{alternatives}; check a date with a day above 12"
            )
    money = [mapping[name] for name in ("amount", "unit_price") if mapping[name]]
    values = [value for column in money for value in _values(sample, column)]
    result.decimal, result.thousands, separator_notes = guess_separators(values)
    notes.extend(separator_notes)
    currency = _currency(values)
    result.currency = currency or "EUR"
    if currency is None:
        notes.append("currency: none in the amounts; set to EUR")
    result.business = guess_business(sample, mapping)
    result.non_product_codes = guess_non_product_codes(sample, mapping)
    if result.non_product_codes:
        notes.append(
            "non-product lines: codes "
            + ", ".join(repr(code) for code in result.non_product_codes)
            + " look like postage, fees or adjustments; they are excluded (check the list)"
        )
    result.notes = notes
    return result


def guess_business(sample: pd.DataFrame, mapping: dict[str, str | None]) -> str:
    """``"b2b"`` when the median line carries `B2B_UNITS_PER_LINE` units or more, else b2c.

    Parameters
    ----------
    sample
        Sample rows as text.
    mapping
        The column mapping (needs ``quantity`` to say b2b).

    Returns
    -------
    str
        ``"b2b"`` or ``"b2c"``.
    """
    column = mapping.get("quantity")
    if column is None:
        return "b2c"
    units = pd.to_numeric(pd.Series(_values(sample, column)), errors="coerce").dropna()
    units = units[units > 0]
    return "b2b" if len(units) and units.median() >= B2B_UNITS_PER_LINE else "b2c"


def guess_non_product_codes(sample: pd.DataFrame, mapping: dict[str, str | None]) -> list[str]:
    """Product codes whose lines look like postage, fees, discounts or adjustments.

    A code qualifies when its description names such a charge, or when it has no digit
    while most codes have one (``POST``, ``M``, ``D``, ``BANK CHARGES`` among ``85123A``...).

    Parameters
    ----------
    sample
        Sample rows as text.
    mapping
        The column mapping (needs ``product``).

    Returns
    -------
    list of str
        Sorted codes.
    """
    code_column, text_column = mapping.get("product"), mapping.get("description")
    if code_column is None:
        return []
    codes = sample[code_column].astype("string").str.strip()
    with_digits = codes.str.contains(r"\d", regex=True).fillna(False)
    found = set()
    if with_digits.mean() >= 0.5:
        found |= set(codes[~with_digits & codes.notna() & (codes != "")].dropna())
    if text_column is not None:
        texts = sample[text_column].astype("string").fillna("")
        named = texts.str.contains(_NON_PRODUCT_WORDS, regex=True)
        found |= set(codes[named & codes.notna()].dropna())
    return sorted(str(code) for code in found)


# --- writing -------------------------------------------------------------------------------

#: comment `params_yaml` puts after each guessed value; a reviewed line has it deleted
CHECK_MARKER = "# CHECK"

_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w-]*)\s*:")


def unreviewed_keys(text: str) -> list[str]:
    """Keys of a params file whose line still carries the CHECK marker, dotted.

    Parameters
    ----------
    text
        The params file's text.

    Returns
    -------
    list of str
        E.g. ``["client", "currency", "transactions.decimal"]``, in file order.
    """
    keys, parents = [], []
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        parents = [(level, key) for level, key in parents if level < indent]
        parents.append((indent, match["key"]))
        value_and_comment = line[match.end() :]
        if re.search(rf"(^|\s){re.escape(CHECK_MARKER)}\b", value_and_comment):
            keys.append(".".join(key for _, key in parents))
    return keys


def _quoted(value: str | None) -> str:
    # A JSON string is a valid YAML double-quoted scalar: dates, ids and '%' stay text.
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


def params_yaml(name: str, result: Guess, *, data_path: str, source: str) -> str:
    """The commented params YAML for a guess.

    Parameters
    ----------
    name
        Client name and slug.
    result
        The guesses.
    data_path
        The transactions path as written (relative to the params file).
    source
        The transactions file as given on the command line, for the header comment.

    Returns
    -------
    str
        YAML text.
    """
    columns = result.columns
    check = f"  {CHECK_MARKER}"
    date_comment = "  # ISO dates" if result.date_format is None else check
    lines = [
        f"# Params for {name}: scaffolded by `ccnb new` from {source} on {dt.date.today()}.",
        "# Review every line marked CHECK and delete its marker: until then every run of this",
        "# client ends with status 'warning'. Then run `ccnb check` on this file.",
        "# Every key, its type and default: the Parameters page of the docs (make docs).",
        f"client: {_quoted(name)}{check}: the name readers see",
        f"slug: {_quoted(name)}",
        f"currency: {_quoted(result.currency)}{check}",
        "",
        "transactions:",
        f"  path: {_quoted(data_path)}  # relative to this file",
    ]
    if result.delimiter:
        lines.append(f"  delimiter: {_quoted(result.delimiter)}")
    if result.encoding:
        lines.append(f"  encoding: {_quoted(result.encoding)}  # detected")
    if result.skip_rows:
        lines.append(f"  skip_rows: {result.skip_rows}{check}: title lines above the header")
    if result.sheet:
        lines.append(f"  sheet: {_quoted(result.sheet)}{check}: the sheet with the transactions")
    lines += [
        f"  date_format: {_quoted(result.date_format)}{date_comment}",
        f"  decimal: {_quoted(result.decimal)}{check}",
        f"  thousands: {_quoted(result.thousands)}",
        "  columns:",
    ]
    for field_name in _FIELDS:
        example = result.examples.get(field_name)
        comment = f"  # e.g. {example!r}" if example is not None else ""
        lines.append(f"    {field_name}: {_quoted(columns[field_name])}{comment}")
    if result.non_product_codes:
        codes = ", ".join(_quoted(code) for code in result.non_product_codes)
        lines += [
            "  non_product:  # lines that sell no product: excluded, counted with their revenue",
            f"    codes: [{codes}]{check}",
        ]
    lines += [
        "",
        '# observation_end: "YYYY-MM-DD"  # measure at this date; default: the last transaction',
        '# calibration_end: "YYYY-MM-DD"  # end of model calibration; default: last third held out',
        "time_unit: W",
        "returns: net  # or exclude: drop negative amounts (returns)",
        f"business: {result.business}{check}: b2b when customers are businesses (trade)",
        f"gross_margin: 0.3{check}: the client's gross margin",
        "# churn_window_days: 365  # days without a purchase before a customer counts as lost",
        "# warm_up_days: 0  # only if the business starts with this data; by default the",
        "#                   # first churn window's first-time buyers are the existing base",
        "",
    ]
    return "\n".join(lines)


def scaffold_params(
    name: str,
    transactions: str | Path,
    *,
    params_dir: str | Path = "params",
    force: bool = False,
    sheet: str | None = None,
) -> Scaffold:
    """Write ``<params_dir>/<name>.yaml`` guessed from a transaction export.

    Parameters
    ----------
    name
        Client slug: letters, digits, ``-`` and ``_``.
    transactions
        The client's transaction export (csv, xlsx or parquet).
    params_dir
        Folder for the params file; created if missing.
    force
        Overwrite an existing params file.
    sheet
        The sheet of an xlsx export (by default the one that looks like transactions).

    Returns
    -------
    Scaffold
        The file written, its text and the guesses.

    Raises
    ------
    ValueError
        When ``name`` is not a safe slug, or the file type is not supported.
    FileExistsError
        When the params file exists and ``force`` is False.
    FileNotFoundError
        When the transactions file does not exist.
    """
    if not _NAME.match(name):
        raise ValueError(
            f"client name {name!r} must be a slug: letters, digits, '-' and '_', starting with "
            "a letter or digit (it becomes the file name and the outputs folder)"
        )
    params_dir = Path(params_dir)
    path = params_dir / f"{name}.yaml"
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    transactions = Path(transactions).expanduser()
    sample = read_sample(transactions, sheet=sheet)
    result = guess(sample.frame, delimiter=sample.delimiter)
    result.encoding = sample.encoding if sample.encoding not in (None, "utf-8") else None
    result.skip_rows = sample.skip_rows
    result.sheet = sample.sheet if len(sample.sheets) > 1 else None
    params_dir.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(transactions.resolve(), params_dir.resolve())
    text = params_yaml(name, result, data_path=Path(relative).as_posix(), source=transactions.name)
    path.write_text(text, encoding="utf-8")
    return Scaffold(path=path, text=text, guess=result)
