"""Clients: registering them, the client list, and the client card (one module per part of the conversation).

`/client 王先生 13800138000 三居 预算300万` registers a client in one line and answers with their card. `/client`
alone asks step by step: the name first (the client is saved as soon as it has one), then phone, needs and budget,
each with a ⏭ Skip button and each answered by typing; /cancel leaves, and what was entered stays saved. A phone
number that is not valid gets the accepted forms back and saves nothing.

`/clients` shows the counts per stage and a page of clients as buttons (◀ ▶ to page, a button per stage to
filter); `/clients 意向` opens one stage and `/clients 王` searches names and phones. Tapping a client opens the
card: details, the last contacts, the next open follow-up, and buttons to log a contact (kind, then a note typed
or skipped, then `handlers.followups.offer_follow_up` suggests the next follow-up), change the stage, schedule a
follow-up (`fu:new:<id>`, handled by the follow-ups module), edit a detail or archive (after a confirm step).

✏️ Edit shows a button per detail (name, phone, needs, budget, source, notes); pressing one shows its current
value and waits for the new one to be typed (🧹 Clear empties an optional detail, ✖️ Cancel changes nothing). What
is typed is checked as registering checks it (`bot.clients.edit_detail`); a refused value changes nothing and the
question stays open. The wait is in the database like every flow's, so a restart mid-edit still takes the answer.

Buttons carry `cl:<action>:<a>:<b>`, and those of a card opened from the list add `:<stage>:<page>`, the list it was
opened from, so that 📋 goes back to that page. Every press that names a client re-checks it with `owned_client`,
so a forged or stale button (another agent's client, an archived one, garbage) gets the polite refusal and reveals
nothing.
"""

from handlers.clients.buttons import on_button
from handlers.clients.card import card
from handlers.clients.listing import show_list
from handlers.clients.navigation import FLOW, PREFIX
from handlers.clients.registering import add, answer_text

__all__ = ["FLOW", "PREFIX", "add", "answer_text", "card", "on_button", "show_list"]
