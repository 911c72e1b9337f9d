"""Surveys end to end and piece by piece: sending (batches, throttle, unsubscribe, failures),
the public answer page (single use, bad input, bad links), the recipient filters, the
playbook action, the pages and their scope, and the audit trail."""

from __future__ import annotations

import datetime as dt
import smtplib
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Activity, AuditEntry, Contact, Feedback, User
from chs_site.errors import ValidationFailed
from playbooks.models import PlaybookAction, Task, TriggerType
from playbooks.services.firing import run_playbook_now
from scoring.models import MetricValue, Scorecard
from surveys import tasks
from surveys.links import ANSWER_SALT, UNSUBSCRIBE_SALT, make_token
from surveys.models import Campaign, OptOut, Recipient, Survey
from surveys.selectors import AudienceFilters, audience, campaign_results
from surveys.services.answers import AlreadyAnswered, answer_survey
from surveys.services.campaigns import start_campaign
from surveys.services.sending import send_campaign_batch
from tests.conftest import client_for
from tests.factories import AccountFactory, ContactFactory, PlaybookFactory

pytestmark = pytest.mark.django_db


def send_now(*, actor: User, survey: Survey, filters: AudienceFilters | None = None) -> Campaign:
    """Start a campaign and run its batches here (the test's transaction never commits)."""
    campaign = start_campaign(actor=actor, survey=survey, filters=filters or AudienceFilters())
    while send_campaign_batch(campaign_id=campaign.pk):
        pass
    campaign.refresh_from_db()
    return campaign


# --- the whole loop ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_answer_travels_from_the_email_to_the_score_and_the_detractor_playbook(
    admin: User, csm: User, account: Account, contact: Contact, scorecard: Scorecard
) -> None:
    from tests.surveys.conftest import links_in

    survey = Survey.objects.create(
        name="NPS", kind="nps", question="Would you recommend us?", follow_up="Why?"
    )
    detractors = PlaybookFactory.create(
        trigger_type=TriggerType.NEGATIVE_FEEDBACK, band="", cooldown_days=0
    )
    campaign = start_campaign(actor=admin, survey=survey, filters=AudienceFilters())
    # Committed: the batch task ran (eagerly) and the email is in the outbox.
    [message] = mail.outbox
    assert message.to == ["dana@example.com"]
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    answer_path, _ = links_in(message)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT

    public = Client()
    page = public.get(answer_path)
    assert page.status_code == 200
    assert b"Would you recommend us?" in page.content and b'type="radio"' in page.content
    recipient = Recipient.objects.get(campaign=campaign)
    assert recipient.opened_at is not None and recipient.answered_at is None

    done = public.post(answer_path, {"score": "3", "comment": "Too slow lately"})
    assert done.status_code == 200 and b"Thank you" in done.content

    feedback = Feedback.objects.get(account=account)
    assert (feedback.kind, feedback.score) == ("nps", 3)
    assert "Too slow lately" in feedback.text and "Dana Buyer" in feedback.text
    line = Activity.objects.get(account=account, kind=Activity.Kind.FEEDBACK)
    assert line.summary.startswith("NPS answer: 3")
    assert MetricValue.objects.get(account=account, metric__key="nps").value == 3.0
    account.refresh_from_db()
    # Through the real recompute: NPS 3 on a 0–10 measure is 30 points, the only measure
    # with data (the scorecard ignores missing ones).
    assert account.computed_score == 30.0 and account.health_band == "red"
    [task] = Task.objects.filter(playbook=detractors, account=account)
    assert task.assignee == csm

    again = public.get(answer_path)
    assert again.status_code == 410 and b"already answered" in again.content
    resubmit = public.post(answer_path, {"score": "10", "comment": "changed my mind"})
    assert resubmit.status_code == 410
    assert Feedback.objects.filter(account=account).count() == 1
    recipient.refresh_from_db()
    assert recipient.score == 3


def test_a_second_answer_through_the_service_is_refused(
    admin: User, contact: Contact, nps_survey: Survey
) -> None:
    send_now(actor=admin, survey=nps_survey)
    recipient = Recipient.objects.get()
    token = make_token(recipient.pk, salt=ANSWER_SALT)
    answer_survey(token=token, score=9)
    with pytest.raises(AlreadyAnswered):
        answer_survey(token=token, score=1)
    assert Feedback.objects.count() == 1


# --- sending ----------------------------------------------------------------------------------


def test_a_campaign_is_sent_in_batches_of_the_configured_size(
    admin: User,
    csm: User,
    nps_survey: Survey,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.SURVEY_BATCH_SIZE = 2
    for i in range(5):
        ContactFactory.create(account=AccountFactory.create(owner=csm), email=f"p{i}@example.com")
    with (
        mock.patch.object(tasks, "send_batch", wraps=tasks.send_batch) as batch,
        django_capture_on_commit_callbacks(execute=True),
    ):
        campaign = start_campaign(actor=admin, survey=nps_survey, filters=AudienceFilters())
    assert batch.call_count == 4  # 2 + 2 + 1, then one that finds nothing left
    assert sorted(m.to[0] for m in mail.outbox) == [f"p{i}@example.com" for i in range(5)]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT and campaign.finished_at is not None
    assert set(campaign.recipients.values_list("status", flat=True)) == {"sent"}


def test_nobody_is_surveyed_twice_within_the_throttle(
    admin: User, contact: Contact, nps_survey: Survey, settings: Any
) -> None:
    settings.SURVEY_THROTTLE_DAYS = 30
    send_now(actor=admin, survey=nps_survey)
    # The same person listed at another account is the same address.
    ContactFactory.create(account=AccountFactory.create(), email="DANA@example.com")
    with pytest.raises(ValidationFailed, match="No contact would get this survey"):
        start_campaign(actor=admin, survey=nps_survey, filters=AudienceFilters())
    later = timezone.now() + dt.timedelta(days=31)
    found = audience(AudienceFilters(), now=later)
    assert [m.email for m in found.members] == ["dana@example.com"]
    assert found.throttled == 0 and found.duplicates == 1


def test_an_unsubscribed_contact_is_never_surveyed_again(
    admin: User, contact: Contact, nps_survey: Survey, settings: Any
) -> None:
    from tests.surveys.conftest import links_in

    settings.SURVEY_THROTTLE_DAYS = 0
    send_now(actor=admin, survey=nps_survey)
    _, unsubscribe_path = links_in(mail.outbox[0])
    public = Client()
    asked = public.get(unsubscribe_path)
    assert asked.status_code == 200 and b"Unsubscribe from surveys?" in asked.content
    assert not OptOut.objects.exists()  # a link scanner's GET unsubscribes nobody
    done = public.post(unsubscribe_path)  # no CSRF token: RFC 8058 one-click
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    assert OptOut.objects.get().email == "dana@example.com"
    assert public.post(unsubscribe_path).status_code == 200  # twice changes nothing
    found = audience(AudienceFilters(), now=timezone.now() + dt.timedelta(days=400))
    assert found.members == [] and found.opted_out == 1


def test_an_address_that_unsubscribes_after_being_queued_is_skipped(
    admin: User, contact: Contact, nps_survey: Survey
) -> None:
    campaign = start_campaign(actor=admin, survey=nps_survey, filters=AudienceFilters())
    OptOut.objects.create(email="dana@example.com", at=timezone.now())
    send_campaign_batch(campaign_id=campaign.pk)
    assert mail.outbox == []
    assert Recipient.objects.get().status == Recipient.Status.SKIPPED


def test_a_refused_email_is_recorded_and_the_rest_still_go(
    admin: User, csm: User, nps_survey: Survey, monkeypatch: pytest.MonkeyPatch
) -> None:
    for email in ("bad@example.com", "good@example.com"):
        ContactFactory.create(account=AccountFactory.create(owner=csm), email=email)
    real_send = mail.EmailMessage.send

    def send(self: mail.EmailMessage, fail_silently: bool = False) -> int:
        if self.to == ["bad@example.com"]:
            raise smtplib.SMTPRecipientsRefused({"bad@example.com": (550, b"no such user")})
        return real_send(self, fail_silently)

    monkeypatch.setattr(mail.EmailMessage, "send", send)
    campaign = send_now(actor=admin, survey=nps_survey)
    bad = Recipient.objects.get(email="bad@example.com")
    assert bad.status == Recipient.Status.FAILED and "no such user" in bad.error
    assert Recipient.objects.get(email="good@example.com").status == Recipient.Status.SENT
    assert campaign.status == Campaign.Status.SENT


# --- who gets it ------------------------------------------------------------------------------


def test_the_filters_choose_contacts_by_segment_band_stage_renewal_and_role(
    csm: User,
) -> None:
    today = timezone.localdate()
    match = AccountFactory.create(
        owner=csm,
        segment="Enterprise",
        red=True,
        lifecycle_stage="renewal",
        renewal_date=today + dt.timedelta(days=20),
    )
    vp = ContactFactory.create(account=match, email="vp@m.com", title="VP Sales")
    ContactFactory.create(account=match, email="dev@m.com", title="Developer")
    ContactFactory.create(account=match, email="", title="VP Nobody")  # no address: no email
    others = [
        AccountFactory.create(owner=csm, segment="SMB", red=True, lifecycle_stage="renewal"),
        AccountFactory.create(
            owner=csm, segment="Enterprise", green=True, lifecycle_stage="renewal"
        ),
        AccountFactory.create(
            owner=csm, segment="Enterprise", red=True, lifecycle_stage="adoption"
        ),
        AccountFactory.create(
            owner=csm,
            segment="Enterprise",
            red=True,
            lifecycle_stage="renewal",
            renewal_date=today + dt.timedelta(days=90),
        ),
    ]
    for i, other in enumerate(others):
        ContactFactory.create(account=other, email=f"vp{i}@o.com", title="VP")
    filters = AudienceFilters(
        segments=["Enterprise"],
        bands=["red"],
        lifecycle_stages=["renewal"],
        renewal_within_days=30,
        contact_title="vp",
    )
    found = audience(filters, now=timezone.now())
    assert [m.contact_id for m in found.members] == [vp.pk] and found.accounts == 1
    primary = ContactFactory.create(account=match, email="boss@m.com", is_primary=True)
    only_primary = audience(AudienceFilters(primary_only=True), now=timezone.now())
    assert [m.contact_id for m in only_primary.members] == [primary.pk]


def test_unknown_filter_values_are_refused_by_name(admin: User, nps_survey: Survey) -> None:
    with pytest.raises(ValidationFailed) as caught:
        start_campaign(
            actor=admin,
            survey=nps_survey,
            filters=AudienceFilters(bands=["purple"], lifecycle_stages=["asleep"]),
        )
    fields = {e["field"]: e["reason"] for e in caught.value.errors}
    assert "purple" in fields["bands"] and "asleep" in fields["lifecycle_stages"]
    assert not Campaign.objects.exists()


# --- the public page's bad input --------------------------------------------------------------


def test_an_answer_without_a_score_or_out_of_range_is_refused_with_the_reason(
    admin: User, contact: Contact, nps_survey: Survey
) -> None:
    send_now(actor=admin, survey=nps_survey)
    path = reverse(
        "surveys:answer", args=[make_token(Recipient.objects.get().pk, salt=ANSWER_SALT)]
    )
    public = Client()
    for data in ({"comment": "no score"}, {"score": "11"}, {"score": "ten"}):
        response = public.post(path, data)
        assert response.status_code == 400 and b"Choose a score." in response.content
    assert not Feedback.objects.exists()


def test_a_changed_or_foreign_link_does_not_work(
    admin: User, contact: Contact, nps_survey: Survey
) -> None:
    send_now(actor=admin, survey=nps_survey)
    recipient_id = Recipient.objects.get().pk
    public = Client()
    unsubscribe_token = make_token(recipient_id, salt=UNSUBSCRIBE_SALT)
    for token in (
        make_token(recipient_id, salt=ANSWER_SALT)[:-2] + "xx",  # tampered
        unsubscribe_token,  # the unsubscribe link cannot answer
        make_token(recipient_id + 1000, salt=ANSWER_SALT),  # no such recipient
    ):
        response = public.get(reverse("surveys:answer", args=[token]))
        assert response.status_code == 404 and b"This link does not work" in response.content
    answer_token = make_token(recipient_id, salt=ANSWER_SALT)
    assert public.post(reverse("surveys:unsubscribe", args=[answer_token])).status_code == 404
    assert not OptOut.objects.exists()


# --- a playbook sends a survey ----------------------------------------------------------------


def test_a_playbook_action_sends_the_survey_to_the_accounts_it_fires_for(
    admin: User, csm: User, account: Account, contact: Contact, nps_survey: Survey
) -> None:
    Account.objects.filter(pk=account.pk).update(health_band="red")
    playbook = PlaybookFactory.create(
        name="Red: ask", trigger_type=TriggerType.BAND_ENTERED, task=False
    )
    action = PlaybookAction(playbook=playbook, kind=PlaybookAction.Kind.SEND_SURVEY)
    with pytest.raises(Exception, match="Choose the survey to send"):
        action.full_clean()
    action.survey = nps_survey
    action.save()
    run_playbook_now(playbook=playbook, actor=admin)
    campaign = Campaign.objects.get()
    assert campaign.source == Campaign.Source.PLAYBOOK and campaign.source_label == "Red: ask"
    assert list(campaign.recipients.values_list("email", flat=True)) == ["dana@example.com"]


# --- pages and scope --------------------------------------------------------------------------


def test_an_admin_creates_a_survey_and_the_audit_log_says_so(admin_client: Client) -> None:
    bad = admin_client.post(reverse("surveys:survey_new"), {"name": "X", "kind": "stars"})
    assert bad.status_code == 400 and b"Select a valid choice" in bad.content
    response = admin_client.post(
        reverse("surveys:survey_new"),
        {
            "name": "CSAT after onboarding",
            "kind": "csat",
            "question": "Happy?",
            "follow_up": "Why?",
        },
    )
    survey = Survey.objects.get()
    assert response.status_code == 302 and response["Location"] == survey.get_absolute_url()
    entry = AuditEntry.objects.get(object_type="survey")
    assert entry.action == "created" and entry.changes["kind"] == [None, "csat"]
    duplicate = admin_client.post(
        reverse("surveys:survey_new"),
        {"name": "CSAT after onboarding", "kind": "csat", "question": "Q", "follow_up": "F"},
    )
    assert duplicate.status_code == 400 and b"already exists" in duplicate.content


def test_sending_from_the_page_counts_confirms_then_queues_and_audits(
    admin_client: Client, contact: Contact, nps_survey: Survey
) -> None:
    url = reverse("surveys:survey_send", args=[nps_survey.pk])
    count = admin_client.get(
        url, {"bands": ["red", "yellow", "green"]}, headers={"HX-Request": "true"}
    )
    assert b"<strong>0</strong>" in count.content  # the account has no band yet
    review = admin_client.get(url, {"review": "1"})
    assert (
        review.status_code == 200
        and b"Send \xe2\x80\x9cQuarterly NPS\xe2\x80\x9d to 1 contact?" in review.content
    )
    refused = admin_client.post(url, {})
    assert refused.status_code == 400 and not Campaign.objects.exists()
    bad = admin_client.get(url, {"review": "1", "renewal_within_days": "-3"})
    assert bad.status_code == 400 and not Campaign.objects.exists()
    sent = admin_client.post(url, {"confirm": "yes"})
    campaign = Campaign.objects.get()
    assert sent.status_code == 302 and sent["Location"] == campaign.get_absolute_url()
    started = AuditEntry.objects.get(object_type="survey_campaign", action="started")
    assert started.changes["recipients"] == [None, 1]


def test_the_campaign_page_shows_each_user_only_their_accounts(
    admin: User,
    csm: User,
    manager: User,
    other_csm: User,
    account: Account,
    contact: Contact,
    other_account: Account,
    nps_survey: Survey,
    django_assert_max_num_queries: Any,
) -> None:
    ContactFactory.create(account=other_account, email="other@example.com")
    campaign = send_now(actor=admin, survey=nps_survey)
    for r in Recipient.objects.all():
        answer_survey(
            token=make_token(r.pk, salt=ANSWER_SALT),
            score=10 if r.account_id == account.pk else 2,
            comment=f"comment from {r.email}",
        )
    url = campaign.get_absolute_url()
    admin_client = client_for(admin)
    # Session and user, campaign, counts, scores, comments, recipients page (count and rows),
    # the notification badge: one query per page region.
    with django_assert_max_num_queries(10):
        page = admin_client.get(url)
    assert page.status_code == 200
    assert b"comment from dana@example.com" in page.content
    assert b"comment from other@example.com" in page.content
    results = page.context["results"]
    assert (results.sent, results.answered, results.headline) == (2, 2, 0.0)
    for user in (csm, manager):
        mine = client_for(user).get(url)
        assert mine.status_code == 200
        assert b"comment from dana@example.com" in mine.content
        assert b"other@example.com" not in mine.content
        assert mine.context["results"].headline == 100.0
    loner = User.objects.create(username="loner")  # a CSM none of whose accounts was surveyed
    AccountFactory.create(owner=loner)
    assert client_for(loner).get(url).status_code == 404
    # other_csm sees the campaign through their own account only.
    theirs = client_for(other_csm).get(url)
    assert b"comment from dana@example.com" not in theirs.content
    assert client_for(csm).get(reverse("surveys:surveys")).status_code == 200
    fragment = client_for(admin).get(url, headers={"HX-Request": "true"})
    assert b'id="results"' in fragment.content and b"<h1>" not in fragment.content


def test_nps_and_csat_results_count_their_groups(
    admin: User, csm: User, nps_survey: Survey
) -> None:
    for i in range(4):
        ContactFactory.create(account=AccountFactory.create(owner=csm), email=f"n{i}@x.com")
    campaign = send_now(actor=admin, survey=nps_survey)
    for r, score in zip(Recipient.objects.order_by("id"), (10, 9, 7, 0), strict=True):
        answer_survey(token=make_token(r.pk, salt=ANSWER_SALT), score=score)
    results = campaign_results(campaign, Recipient.objects.filter(campaign=campaign))
    assert (results.promoters, results.passives, results.detractors) == (2, 1, 1)
    assert results.headline == 25.0  # 50 % promoters − 25 % detractors
    assert {s: n for s, n, _ in results.distribution}[9] == 1
    finished = AuditEntry.objects.get(object_type="survey_campaign", action="finished")
    assert finished.changes["recipients_sent"] == [None, 4]


def test_django_admin_shows_sends_and_opt_outs_read_only(
    admin: User, contact: Contact, nps_survey: Survey
) -> None:
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    send_now(actor=admin, survey=nps_survey)
    OptOut.objects.create(email="gone@example.com", at=timezone.now())
    staff = client_for(admin)
    recipients = staff.get("/admin/surveys/recipient/")
    assert recipients.status_code == 200 and b"dana@example.com" in recipients.content
    assert b"gone@example.com" in staff.get("/admin/surveys/optout/").content
    assert staff.get("/admin/surveys/survey/add/").status_code == 403
    recipient = Recipient.objects.get()
    change = staff.post(f"/admin/surveys/recipient/{recipient.pk}/change/", {"status": "queued"})
    assert change.status_code == 403
