"""What a mail wants: something of the writer's put right, or only to know, thank or complain. PURE.

Public API: :func:`own_trouble` ("akun kami sudah 5 hari belum diverifikasi" -> the words that say
something of the writer's is blocked, failing, wrong or must be changed; or None),
:func:`no_request` ("kapan pengumumannya?", "sudah normal, terima kasih", "kami menyampaikan
pengaduan ..." -> the words that say the mail asks for nothing to be fixed; or None), and for
``core.solved`` :func:`amiss` and :func:`asks` (the clause that asks, or None).

The table's categories name a mail's topic; its priority then depends on whether anything is
blocked. A topic's words also turn up in mail that blocks nothing ("kapan jadwal verifikasi berkas
asli?" names verification, "Re: SPSE lemot" - "sudah normal lagi, terima kasih" names a slow
server), and a question's words turn up in mail that does ("bagaimana cara mengubah data kami? kami
ganti direktur"). The labelling standard reads them so:

* **own trouble** (sedang at least): something failing ("gagal", "tidak bisa", "error"), something
  of the writer's stuck for a while ("sudah 5 hari belum ...", "masih menunggu"), a counterpart
  that does not answer ("tidak merespon"), a recorded value that is wrong ("salah input", "tertulis
  X, seharusnya Y"), the writer's own data that changed and must be changed in the system too
  ("pergantian direktur", "pindah alamat"), or an official who must change a running tender ("kami
  perlu memperpanjang tahap ...");
* **no request** (rendah): a question for information (a clause ending in "?" or opening with a
  question word, "mohon informasi ...", "hanya ingin tahu"), a thank-you for a problem that is
  solved, a complaint or a report about someone's conduct - in each case only when no own trouble
  is found.

A failure that is hypothetical ("jika gagal ...") or denied ("tidak ada error") is no trouble. The
text is expected normalised (lower case, see :func:`mailbot.core.matching.normalise`).
"""

from __future__ import annotations

import re

from mailbot.core.matching import snippet

__all__ = ["amiss", "asks", "no_request", "own_trouble"]

# A clause ends after a sentence mark followed by a space or the end, a semicolon, or a line
# break; the mark stays with its clause so a question can be told from a statement.
_CLAUSE_END = re.compile(r"(?<=[.!?;])\s+|\n+")

_NEG = r"(?:tidak|tdk|tak|gak|ga|gk|nggak|ngga|enggak|ndak|belum|blm|blom)"
_CAN = r"(?:bisa|bs|bsa|dapat|dpt|berhasil)"

# something failing or not happening for the writer
_FAILURE = re.compile(
    r"\b(?:gagal|ggl|error|eror|errornya|erornya|failed|fails?|failure|bermasalah|macet|hang|crash\w*|"
    r"terkunci|terblokir|diblokir|blocked|locked|stuck|nyangkut|tertahan|corrupt\w*|rusak|"
    r"can.?t|cannot|can\s+not|unable|could\s*n.?t|does\s*n.?t\s+work|not\s+working|"
    + _NEG + r"\s+" + _CAN + r"|" + _NEG + r"\s+(?:muncul|tampil|tayang|masuk|terkirim|tersimpan|terbuka|"
    r"berfungsi|aktif|jalan|merespon|merespons|respon|menanggapi|diproses|terproses|diterima)|"
    r"(?:muncul|keluar|tampil)\s+(?:pesan|tulisan|notif\w*|keterangan|peringatan|error|eror))\b"
    # a message the system showed, quoted: 'muncul "Ukuran file melebihi batas"'
    r"|\b(?:muncul|keluar|tampil|shows?|says?|displays?)\s*:?\s*[\"']"
)
# a failure that did not happen: "jika gagal", "agar tidak error", "tidak ada error", "if it fails"
_HYPOTHETICAL = re.compile(
    r"\b(?:jika|jikalau|kalau|kalo|klo|bila|apabila|seandainya|misalnya|agar|supaya|biar|"
    r"if|in\s+case|to\s+avoid|whether)\b[^.?!]{0,40}$"
)
_DENIED = re.compile(r"\b(?:tidak\s+ada|tdk\s+ada|gak\s+ada|ga\s+ada|tanpa|no|never|without|tidak\s+pernah)\s+$")
# "tender gagal" is the outcome of a tender the Pokja declared failed, not something failing
_OUTCOME = re.compile(r"\b(?:tender|lelang|seleksi|paket|dinyatakan|ditetapkan)\s+$")

# a symptom: slowness, an outage, something gone, refused or wrong. It is trouble even when the
# writer adds "sekadar info" (SPSE slow but up is "sedang" by the labelling standard)
_SYMPTOM = re.compile(
    r"\b(?:lambat|lemot|lelet|slow|down|gangguan|masalah|kendala|problem|issue|trouble|hilang|lenyap|missing|"
    r"ditolak|tertolak|rejected|diturunkan|diturunin|invalid|salah|keliru|wrong|loading|melebihi|terlewat|"
    r"abu-?\s?abu|disabled|greyed|grayed|kosong|blank)\b"
)
# anything else amiss, or a plea for help with something: read broadly, since it only keeps a mail
# from being taken for a plain question ("jadwal kok berubah sendiri?", "mohon petunjuknya" after a
# failure, "apakah sedang ada gangguan?")
_AMISS = re.compile(
    r"\b(?:kenapa|knp|napa|mengapa|why|kok|koq|piye|penyebab\w*|sebabnya|tiba-?\s?tiba|tiba2|suddenly|sendiri|kurang|terlambat|"
    r"telat|khawatir|urgent|urgently|segera|darurat|mendesak|tolong|help|bantu|dibantu|bantuan|bantuannya|"
    r"petunjuk\w*|solusi\w*|advise|check|cek|dicek|mengecek|memperbaiki|diperbaiki|perbaikan|padahal|lewat|"
    + _NEG + r"\s+\w+|not\s+\w+|n.t\s+\w+|no\s+\w+)\b"
)
# "tidak ada yang mendesak", "belum pernah", "tidak perlu": a negation that reports nothing amiss
_BENIGN_NEG = re.compile(
    r"^(?:tidak|tdk|belum|blm|not|no)\s+(?:perlu|usah|pernah|sabar|ada\s+yang\s+mendesak|urgent|rush|"
    r"yet|only|sure|need|ada\s+(?:\w+\s+)?(?:error|eror|masalah|kendala|gangguan|problem)|"
    # a newcomer who lacks a document or an account yet asks how to start: "kami belum punya NPWP",
    # "we do not have an account yet" (lacking access to a package is trouble: not listed)
    r"(?:punya|memiliki|mempunyai|have)\s+(?:\w+\s+){0,2}(?:npwp|nib|akta|sertifikat\w*|izin|ijin|akun|account|"
    r"user\s*id|tax\s+(?:id|number)|certificate))\b"
)

# something of the writer's stuck for a while: "sudah 5 hari belum", "sudah seminggu statusnya
# menunggu", "masih menunggu verifikasi", "for two weeks"
_WAITING = re.compile(
    r"\b(?:sudah|sdh|udah|telah|lebih\s+dari|hampir|already|for)\s+(?:\d+|satu|dua|tiga|empat|lima|beberapa|se|two|three|several)\s*"
    r"(?:hari|hr|minggu|pekan|bulan|bln|days?|weeks?|months?)\b[^.?!\n]{0,60}?"
    r"\b(?:belum|blm|menunggu|tertunda|status\w*|masih|still|pending|waiting)"
    r"|\bsudah\s+seminggu\b|\b(?:masih|still)\s+(?:menunggu|pending|waiting|tertahan|diproses)\b"
)
# a recorded value that is wrong: "salah input", "tertulis X seharusnya Y", "tidak sesuai dengan"
_WRONG_VALUE = re.compile(
    r"\bsalah\s+(?:input|entri|entry|isi|masuk)\b|\b(?:tercantum|tertulis|terisi|tampil)\b[^.?!\n]{0,60}?\b(?:seharusnya|harusnya|semestinya)\b"
    r"|\btidak\s+sesuai\s+(?:dengan|dgn)\b|\b(?:berbeda|beda)\s+(?:dengan|dgn|dari)\s+(?:yang|yg)\s+(?:ada|tertulis|tercantum|seharusnya)\b"
)
# the writer's own data changed and must change in the system too: "pergantian direktur", "ganti
# pengurus", "pindah kantor", "akta perubahan", "new director"
_DATA_CHANGED = re.compile(
    r"\b(?:pergantian|penggantian|berganti|pindah|perpindahan|changed?|new)\s+(?:\w+\s+){0,2}"
    r"(?:direktur|direksi|pengurus|pemilik|alamat|kantor|domisili|npwp|akta|email|e-mail|"
    r"nomor\s+(?:hp|telepon|telp)|no\s+hp|nama\s+perusahaan|director|address)\b"
    r"|\bakta\s+perubahan\b"
    # the other order: "direktur kami sudah berganti", "alamat email juga berubah"
    r"|\b(?:direktur|direksi|pengurus|pemilik|alamat|kantor|domisili|npwp|email|e-mail|nama\s+perusahaan)\s+"
    r"(?:\w+\s+){0,3}(?:berganti|berubah|diganti|pindah|baru)\b"
    # the writer means to change the company's data ("kami ingin memperbarui NPWP", "mau mengubah data
    # perusahaan"); "bagaimana cara mengganti email?" alone asks how, in general
    r"|\b(?:ingin|mau|mo|akan|perlu|hendak|bermaksud|berencana|want\s+to|need\s+to|would\s+like\s+to)\s+(?:\w+\s+)?"
    r"(?:mengubah|merubah|ubah|rubah|mengganti|ganti|memperbarui|perbarui|memutakhirkan|update|change)\s+(?:\w+\s+){0,2}"
    r"(?:data|direktur|direksi|pengurus|alamat|npwp|akta|email|e-mail|nama\s+perusahaan|director|address)\b"
)
# an official who must change a tender under way: "kami perlu memperpanjang tahap", "harus
# mengubah jadwal", "mohon dibukakan kembali"
_MUST_CHANGE = re.compile(
    r"\b(?:kami|saya|pokja|ppk)\s+(?:\w+\s+)?(?:perlu|harus|wajib|terpaksa|akan)\s+(?:\w+\s+)?"
    r"(?:memperpanjang|perpanjang|mengubah|merubah|ubah|mengganti|mengoreksi|koreksi|membatalkan|batalkan|"
    r"mengulang|menunda|memundurkan|memajukan|membuka\s+kembali)\b"
)
# the clause asks: ends in "?", or opens with a question word, or announces a question
_QUESTION_WORD = re.compile(
    r"^(?:(?:mohon|info|informasi|mau|ingin|izin|ijin|pak|bu|bapak|ibu|min|admin|kak|dan|lalu|terus|"
    r"juga|kemudian|then|also|and|so|hi|halo|dear)\W+)*"
    r"(?:apakah|apa|apakh|bagaimana|gimana|gmn|bagaimanakah|kapan|kapankah|berapa|bisakah|bolehkah|"
    r"dapatkah|di\s*mana|dimanakah|siapa|manakah|how|when|what|where|which|who|is\s+it|are\s+there|"
    r"is\s+there|can\s+(?:a|an|i|we|you)|could\s+(?:i|we|you)|may\s+(?:i|we)|should\s+(?:i|we)|do\s+(?:i|we)|does)\b"
)
_ASKING = re.compile(
    r"\b(?:(?:mau|ingin|izin|ijin|numpang)\s+(?:ber)?tanya|menanyakan|hanya\s+ingin\s+tahu|ingin\s+mengetahui|"
    r"(?:mohon|minta|mhn)\s+(?:informasi|info|infonya|penjelasan\w*|petunjuk\w*|arahan\w*)|"
    r"would\s+like\s+to\s+(?:ask|know)|please\s+advise)\b"
)
# the writer says the mail only informs or asks: "kami hanya ingin tahu", "sekadar bertanya",
# "hanya untuk diketahui", "just wanted to let you know" (a soft sign of trouble beside it, such as
# "tiba-tiba", is then the writer's observation, not a request; a failure still counts)
_ONLY_INFORMING = re.compile(
    r"\b(?:hanya|sekadar|sekedar|cuma|cuman)\s+(?:ingin\s+|mau\s+|untuk\s+)?(?:tahu|mengetahui|bertanya|"
    r"menanyakan|info\w*|menyampaikan|diketahui|memberitahu\w*|mengabarkan)\b"
    r"|\b(?:mau|ingin|izin|ijin|numpang|mo)\s+(?:ber)?(?:tanya|nanya|menanyakan)\b"
    r"|\bjust\s+(?:want(?:ed)?\s+to\s+|would\s+like\s+to\s+)?(?:know|ask|let\s+you\s+know|inform)\b|\bfor\s+your\s+information\b"
)
# a thank-you for a problem that is over: "sudah normal lagi, terima kasih", "sudah bisa login"
_SOLVED = re.compile(
    r"\b(?:sudah|telah|sdh|udah|sekarang|already|now)\s+(?:\w+\s+)?(?:bisa|berhasil|normal|lancar|teratasi|"
    r"beres|selesai|aman|works?|working|fine|resolved|solved)\b"
)
_THANKS = re.compile(r"\b(?:terima\s*kasih|terimakasih|trima\s*kasih|makasih|mksh|trims|thanks?|thx|nuhun|suksma)\b")
# a complaint or a report about conduct, sent for staff to follow up elsewhere
_COMPLAINT = re.compile(
    r"\b(?:pengaduan|mengadukan|keluhan|mengeluhkan|komplain|kecewa|menduga|dugaan|diduga|kkn|"
    r"kolusi|nepotisme|korupsi|persekongkolan|diatur|kritik|complaint|disappointed)\b"
)


def _clauses(text: str) -> list[str]:
    return [c.strip() for c in _CLAUSE_END.split(text) if c.strip()]


def _failure(clause: str) -> re.Match[str] | None:
    for match in _FAILURE.finditer(clause):
        before = clause[: match.start()]
        if _HYPOTHETICAL.search(before[-60:]) or _DENIED.search(before[-20:]) or _OUTCOME.search(before[-20:]):
            continue
        return match
    return None


def own_trouble(text: str) -> str | None:
    """The words saying something of the writer's is stuck, wrong or must be changed by the
    helpdesk (a wait, a wrong value, changed data, a running tender to change); None when the mail
    says nothing of the kind. Failures are :func:`amiss`'s."""
    for clause in _clauses(text):
        for rx in (_WAITING, _WRONG_VALUE, _DATA_CHANGED, _MUST_CHANGE):
            found = rx.search(clause)
            if found is not None:
                return snippet(found[0])
    return None


def _symptom(clause: str) -> re.Match[str] | None:
    for match in _SYMPTOM.finditer(clause):
        before = clause[: match.start()]
        if not (_HYPOTHETICAL.search(before[-60:]) or _DENIED.search(before[-20:])):
            return match
    return None


def _hard(text: str) -> str | None:
    """A failure, a symptom or :func:`own_trouble`: what no "terima kasih" or "sekadar info" undoes."""
    for clause in _clauses(text):
        found = _failure(clause) or _symptom(clause)
        if found is not None:
            return snippet(found[0])
    return own_trouble(text)


def amiss(text: str) -> str | None:
    """The words of anything reported amiss or any plea for help (broad: a failure, a why-question,
    slowness, a negation, "mohon petunjuk"), or :func:`own_trouble`'s; None when there are none."""
    hard = _hard(text)
    if hard is not None:
        return hard
    for clause in _clauses(text):
        for match in _AMISS.finditer(clause):
            before = clause[: match.start()]
            if _BENIGN_NEG.match(match[0] + clause[match.end():match.end() + 30]) or _HYPOTHETICAL.search(before[-60:]):
                continue
            return snippet(match[0])
    return None


def _is_question(clause: str) -> bool:
    if clause.endswith("?") or _ASKING.search(clause):
        return True
    return any(_QUESTION_WORD.match(part.strip()) for part in clause.split(","))


def asks(text: str) -> str | None:
    """The first clause that asks (ends in "?", opens with a question word, or announces a
    question: "mohon informasi ..."); None when no clause does."""
    question = next((c for c in _clauses(text) if _is_question(c)), None)
    return None if question is None else snippet(question)


def no_request(text: str) -> str | None:
    """The words saying the mail only asks for information, thanks for a solved problem or
    complains; None when it does not, or when anything is :func:`amiss` (beside a statement that
    the mail only informs, or a thank-you for a solved problem, only a failure, a symptom or
    :func:`own_trouble` counts)."""
    if _hard(text) is not None:
        return None
    clauses = _clauses(text)
    only = _ONLY_INFORMING.search(text)
    if only is not None:
        return "only informs: " + snippet(only[0])
    # ("bukankah seharusnya sudah bisa?" asks; it reports nothing solved)
    solved = next((c for c in clauses if _SOLVED.search(c) and not _is_question(c)), None)
    if solved is not None and _THANKS.search(text):
        return "solved: " + snippet(solved)
    if amiss(text) is not None:
        return None
    complaint = next((c for c in clauses if _COMPLAINT.search(c)), None)
    if complaint is not None:
        return "complaint: " + snippet(complaint)
    question = next((c for c in clauses if _is_question(c)), None)
    if question is not None:
        return "asks: " + snippet(question)
    return None
