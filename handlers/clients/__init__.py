"""Clients: registering them, the client list, and the client card (one module per part of the conversation).

`/client 王先生 13800138000 三居 预算300万` registers a client in one line and answers with their card. `/client`
alone asks step by step: the name first (the client is saved as soon as it has one), then phone, needs and budget,
each with a ⏭ Skip button and each answered by typing; /cancel leaves, and what was entered stays saved. A phone
number that is not valid gets the accepted forms back and saves nothing. Two questions may come before a client is
saved (`asking`), the typed line waiting in the conversation state meanwhile: a name that reads like a sentence
(`bot.clients.looks_like_sentence`) gets "这是客户的名字吗？" (✍️ no keeps the sentence as the needs and asks for the
name), and a name an active client already has gets "已有同名客户…，仍然添加？" with ➕ Add anyway and 👤 Open.

`/clients` shows the counts per stage and a page of clients as buttons (◀ ▶ to page, a button per stage to
filter, and 🗄 Archived (N) while any are archived); `/clients 意向` opens one stage and `/clients 王` searches names
and phones. Tapping a client opens the card: details, the newest entries of their history (`bot.history`: contacts
with their notes, follow-ups done with their outcomes, stage moves, the one a viewing makes included; 📜 History
pages through all of it), every open follow-up with its time, and buttons to log a contact (微信, 电话, 到访/面谈,
带看; then a note typed or skipped, then `handlers.followups.offer_follow_up` suggests the next follow-up), change
the stage, schedule a follow-up (`fu:new:<id>`, handled by the follow-ups module), edit a detail or archive (after
a confirm step). The archive (`archive`) lists archived clients page by page; an archived client's card is
read-only, with ♻️ Restore (its cancelled follow-ups stay cancelled, and the reply says so).

✏️ Edit shows a button per detail (name, phone, needs, budget, source, notes); pressing one shows its current
value and waits for the new one to be typed (🧹 Clear empties an optional detail, ✖️ Cancel changes nothing). What
is typed is checked as registering checks it (`bot.clients.edit_detail`); a refused value changes nothing and the
question stays open. The wait is in the database like every flow's, so a restart mid-edit still takes the answer.

Buttons carry `cl:<action>:<a>:<b>`, and those of a card opened from the list add `:<stage>:<page>`, the list it was
opened from, so that 📋 goes back to that page. Every press that names a client re-checks it with `owned_client`,
so a forged or stale button (another agent's client, an archived one, garbage) gets the polite refusal and reveals
nothing; the archive's buttons (`cl:arch`, `cl:acard`, `cl:restore`) alone look archived clients up, through
`archived_client`.
"""

from handlers.clients.buttons import on_button
from handlers.clients.card import card
from handlers.clients.listing import show_list
from handlers.clients.navigation import FLOW, PREFIX
from handlers.clients.registering import add, answer_text

__all__ = ["FLOW", "PREFIX", "add", "answer_text", "card", "on_button", "show_list"]
