"""Create the helpdesk queue for the benchmark (run after ``migrate``, in the djhd venv).

Arguments: QUEUE_ADDRESS STAFF1,STAFF2 IMAP_HOST IMAP_PORT
"""

import sys

import django

django.setup()

from helpdesk.models import Queue

address, staff, host, port = sys.argv[1:5]
Queue.objects.all().delete()
Queue.objects.create(
    title="Helpdesk LPSE Kota Uji", slug="lpse", email_address=address,
    allow_email_submission=True, email_box_type="imap", email_box_host=host, email_box_port=int(port),
    email_box_ssl=True, email_box_user=address, email_box_pass="secret", email_box_imap_folder="INBOX",
    email_box_interval=0, new_ticket_cc=staff, updated_ticket_cc=staff, enable_notifications_on_email_events=True,
)
print("queue created")
