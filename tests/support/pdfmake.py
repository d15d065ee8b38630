"""Small PDFs with a text layer, written by hand for the tests (no PDF library writes plain text pages).

One Helvetica page per list of lines, the objects and the cross-reference table as PDF 1.4 lays
them out, so pypdf reads them as it reads a letter printed to PDF.
"""

from __future__ import annotations


def _escape(line: str) -> bytes:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252")


def make_pdf(*pages: list[str]) -> bytes:
    """A PDF whose page ``i`` shows the lines ``pages[i]``, top to bottom."""
    count = len(pages)
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(f"{4 + 2 * i} 0 R".encode() for i in range(count))
        + f"] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, lines in enumerate(pages):
        stream = b"BT /F1 11 Tf 14 TL 56 790 Td " + b" ".join(b"(" + _escape(line) + b") Tj T*" for line in lines) + b" ET"
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
                       f"/Contents {5 + 2 * i} 0 R >>".encode())
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    return _assemble(objects)


def make_drawing_pdf(content: bytes, form: bytes = b"", *, deflate: bool = False) -> bytes:
    """One page whose drawing instructions are ``content`` as given (``/Fm Do`` draws ``form``, a
    Form XObject), compressed with ``deflate``: the hostile files of the reading bounds."""
    import zlib

    def stream(data: bytes, head: str = "") -> bytes:
        body = zlib.compress(data, 9) if deflate else data
        flt = " /Filter /FlateDecode" if deflate else ""
        return f"<< {head}/Length {len(body)}{flt} >>\nstream\n".encode() + body + b"\nendstream"

    font = "/Font << /F1 4 0 R >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << {font} /XObject << /Fm 6 0 R >> >> "
        "/Contents 5 0 R >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        stream(content),
        stream(form, f"/Type /XObject /Subtype /Form /BBox [0 0 100 100] /Resources << {font} >> "),
    ]
    return _assemble(objects)


def _assemble(objects: list[bytes]) -> bytes:
    """The file: header, numbered objects (1 = the catalog), cross-reference table, trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
