"""Issue 17, finding 4 on the real mail stack: a look-alike DKIM result runs no staff command."""

from __future__ import annotations

from tests.e2e.conftest import Deployment, reply_mail
from tests.support.mailstack import fetch_all

QUESTION = "Kapan jadwal pelatihan SPSE untuk penyedia bulan depan?"


def test_look_alike_dkim_result_runs_no_command(deployment: Deployment) -> None:
    d = deployment
    d.write_config(staff_extra='command_auth = ["dkim"]\ntrusted_authserv_ids = ["mx.lpse.test"]')
    _, out, _ = d.cli("check-config")  # the warning is printed whatever else passes or fails
    assert "staff auth: WARNING" in out and "strip" in out and "mx.lpse.test" in out
    d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
    [note] = d.wait_subject(d.staff1, "Tiket baru")
    staff_domain = d.staff1.split("@")[1]
    # Sent as staff, to the plain helpdesk address, with a result the trusted server's id
    # "signed" -- by a domain that merely starts with the staff domain. The old regex took it.
    forged = reply_mail(note, d.staff1, "#tutup\nSudah selesai.", to=d.helpdesk)
    forged["Authentication-Results"] = (f"mx.lpse.test; dkim=pass header.d={staff_domain}.evil.example "
                                        "header.s=s1 header.b=AbCd1234")
    d.send(forged, to=[d.helpdesk])
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ticket] = d.tickets()
    assert ticket.state == "analysis"
    assert not [e for e in ticket.events if e.kind == "closed"]
    [unverified] = [e for e in ticket.events if e.kind == "command_unverified"]
    assert "no dkim=pass" in unverified.detail and staff_domain in unverified.detail
    assert not [m for m in fetch_all(d.stack, d.user) if "Selesai" in m.subject]
    d.wait_subject(d.staff1, "Perintah ")  # the staff member is told no command ran
