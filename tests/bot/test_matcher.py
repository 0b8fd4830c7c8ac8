"""Matching a check-in to a tip: labelled reflections as agents write them, in zh-Hans, zh-Hant and en, each with
the topics a senior coach would accept, and the hit rates the matcher must keep; then the weighting of the answers,
ties, the low-mood fallback, the tip chosen through the rotation, keyword hygiene, and no crash on any text.

The snippets are written the way agents write in the evening (short, colloquial), not built from the keyword
lists; each goes into "to improve", the answer a tip is for. Keywords were added to fit the labelled lists, so their
rates flatter the matcher; `UNSEEN` holds snippets no keyword was fitted to, the honest measure.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matcher import Written, match_topic, matched_tip
from bot.models import TipState
from bot.tip_library import library
from bot.tips import choose

MINDSET, TRUST, NEEDS, MARKET = "mindset", "trust", "needs", "market"
FOLLOW_UP, RELATIONSHIPS, PROSPECTING = "follow-up", "relationships", "prospecting"
TEAMWORK, COMMUNICATION, SELF = "teamwork", "communication", "self-management"
SHOWINGS, OBJECTIONS, DEPOSITS, COMPLIANCE = "showings", "objections", "deposits", "compliance"

SIMPLIFIED: list[tuple[str, set[str]]] = [
    ("今天客户嫌贵，吵了一架，心情很差", {MINDSET, COMMUNICATION}),
    ("带看时客户问学区，我答不上来", {MARKET}),
    ("忘了给王姐回电话", {FOLLOW_UP}),
    ("一下午都没人进店，干坐着", {PROSPECTING}),
    ("合同上把面积写错了，被经理说了一顿", {SELF}),
    ("同事都开单了，就我还是零，有点着急", {MINDSET, FOLLOW_UP}),
    ("客户问开发商之前做过哪些项目，我一点都不知道", {MARKET}),
    ("有个客户一直说考虑考虑，我不知道他到底想要什么", {NEEDS}),
    ("客户觉得我在忽悠他，不太相信我说的", {TRUST}),
    ("跟客户聊天总冷场，不知道说什么", {COMMUNICATION}),
    ("介绍户型的时候太紧张，说话结巴", {COMMUNICATION}),
    ("上周看房的李哥一直没回我微信", {FOLLOW_UP}),
    ("好久没给以前成交的客户打电话问候了", {RELATIONSHIPS}),
    ("经理当着大家的面批评我，有点委屈", {MINDSET, TEAMWORK}),
    ("跟同事抢客户闹得不愉快", {TEAMWORK}),
    ("今天又迟到了，早会没赶上", {SELF}),
    ("帮客户算首付算错了，好丢人", {SELF, MARKET}),
    ("客户问地铁什么时候通，周边配套我说不清", {MARKET}),
    ("客户被隔壁项目的销售说动了，我们的优势没讲清楚", {MARKET, COMMUNICATION}),
    ("发了一天传单，一个电话都没接到", {PROSPECTING}),
    ("客户说再看看，走了就没消息了", {FOLLOW_UP}),
    ("客户电话没登记，回头找不到了", {FOLLOW_UP, SELF}),
    ("一整天都在处理杂事，计划好的事一件没做", {SELF}),
    ("被客户挂了好几次电话，有点灰心", {MINDSET}),
    ("客户问这套房有什么毛病，我不敢说实话", {TRUST}),
    ("带看路线没提前走一遍，绕了半天", {SELF}),
    ("一家人意见不一样，老婆想要大三居，老公嫌贵", {NEEDS}),
    ("没弄清楚客户能出多少钱就带去看了贵的房子", {NEEDS}),
    ("催客户交定金太急了，把人吓跑了", {COMMUNICATION, DEPOSITS}),
    ("状态不好，一直想着昨天丢的那一单", {MINDSET}),
    ("客户问限购政策，我说错了", {MARKET}),
    ("不好意思问师傅，自己瞎琢磨了一下午", {TEAMWORK}),
    ("案场冷冷清清，一天就来了两组", {PROSPECTING}),
    ("客户砍价砍得太狠，我不知道怎么接", {COMMUNICATION, OBJECTIONS}),
    ("答应客户发的户型图忘发了", {FOLLOW_UP}),
    ("今天太累了，什么都不想干", {MINDSET}),
    ("客户说我太像推销的，感觉不真诚", {TRUST}),
    ("讲盘还不熟练，讲得磕磕巴巴", {MARKET, COMMUNICATION}),
    ("组里配合不好，客户来了半天没人接待", {TEAMWORK}),
    ("朋友圈发了好几天房源，一个咨询都没有", {PROSPECTING}),
    ("客户问隔壁小区多少钱一平，我不清楚", {MARKET}),
    ("签约时忘带客户的身份证复印件，白跑一趟", {SELF}),
    ("客户约好了十点来，结果放我鸽子，白等一上午", {MINDSET, FOLLOW_UP}),
    ("客户一直问问题，我没听懂他真正担心什么", {NEEDS}),
    # Written later, as unseen batch 1 (see UNSEEN), then used to add keywords.
    ("客户当面说我不专业，挺受打击的", {MINDSET}),
    ("昨天来看房的那对夫妻，今天忘了联系", {FOLLOW_UP}),
    ("客户问物业费和车位价格，我得去问同事才知道", {MARKET}),
    ("店里一整天都没来人，只能坐着等", {PROSPECTING}),
    ("定金收据上的名字写错了", {SELF}),
    ("客户说要三房但预算只够两房，我没处理好", {NEEDS}),
    ("主管让我跟着老员工学，可我不太好意思开口", {TEAMWORK}),
    ("带看时一路上不知道跟客户聊啥", {COMMUNICATION}),
    ("这个月还没开单，有点慌", {FOLLOW_UP, MINDSET}),
    ("客户问这个户型有没有缺陷，我含糊过去了", {TRUST}),
    ("被客户骂了还得笑脸相迎，心里憋屈", {MINDSET}),
    ("之前买过房的客户结婚了，没去祝贺", {RELATIONSHIPS}),
    ("早上起晚了，整个上午都很乱", {SELF}),
    ("客户问别的开发商的楼盘怎么样，我随口说不好", {MARKET, TRUST}),
    ("客户讲了半天，我都在说自己的，没认真听", {COMMUNICATION, NEEDS}),
    # Unseen batch 2, likewise.
    ("客户说话很冲，我当时脸都红了，回来越想越气", {MINDSET}),
    ("周末看过房的三组客户，到现在一个都没回访", {FOLLOW_UP}),
    ("客户问这个楼盘明年会不会降价，我不知道怎么回答", {MARKET}),
    ("今天来的都是随便看看的，没一个有意向", {NEEDS, PROSPECTING}),
    ("把两个客户的资料搞混了，差点发错", {SELF}),
    ("客户想要南北通透的，我却一直推东西向的房子", {NEEDS}),
    ("新来的同事抢了我的客户，我不知道该不该跟经理说", {TEAMWORK}),
    ("开口就讲价格，客户听了两句就走了", {COMMUNICATION, NEEDS}),
    ("又一周没成交，开始怀疑自己适不适合干这行", {MINDSET}),
    ("为了让客户下定，我说了房子旁边要建地铁，其实还没定", {TRUST}),
    ("去年买房的刘哥今天问我还记不记得他，有点尴尬", {RELATIONSHIPS}),
    ("上午在店里玩了两个小时手机", {SELF}),
    ("客户拿着别家的报价来比，我不知道怎么应对", {COMMUNICATION, MARKET}),
    ("一天打了五十个陌生电话，只有两个愿意听", {PROSPECTING}),
    ("师傅教我的逼定话术我没用上", {COMMUNICATION, TEAMWORK}),
    ("客户说我们小区物业太差，我没法反驳", {MARKET}),
    # Written with the topics of the middle of the job (issue 17), for the words that had no tip before.
    ("两个同事撞单了，都说客户是自己的", {COMPLIANCE, TEAMWORK}),
    ("约好的客户又爽约了，白等一下午", {FOLLOW_UP, SHOWINGS}),
    ("客户说要回去和家人商量，我连决策人是谁都不知道", {OBJECTIONS, NEEDS}),
    ("客户已读不回三天了", {FOLLOW_UP}),
    ("客户砍价，我差点自己答应给他打折", {OBJECTIONS}),
    ("客户问定金和订金有什么区别，我讲不清", {DEPOSITS}),
    ("客户问孩子能不能上对口学校，我差点打了包票", {MARKET, COMPLIANCE}),
    ("带看前没确认时间，客户跑空了", {SHOWINGS}),
    ("客户说别的中介服务费更便宜", {OBJECTIONS}),
    ("客户一直观望，说等降价再买", {OBJECTIONS, FOLLOW_UP}),
]

TRADITIONAL: list[tuple[str, set[str]]] = [
    ("今天被客戶罵了一頓，心情超差", {MINDSET}),
    ("客戶問學區的問題，我答不出來", {MARKET}),
    ("忘記回撥給陳小姐", {FOLLOW_UP}),
    ("整個下午都沒有人來看房", {PROSPECTING}),
    ("合約日期寫錯了，還好主管有發現", {SELF}),
    ("同事都成交了，只有我還沒開單", {MINDSET, FOLLOW_UP}),
    ("客戶好像不太相信我講的話", {TRUST}),
    ("跟客戶聊天很尷尬，不知道要聊什麼", {COMMUNICATION}),
    ("客戶預算多少我都沒問清楚", {NEEDS}),
    ("上次帶看的客戶一直已讀不回", {FOLLOW_UP}),
    ("不敢問前輩，自己摸索了很久", {TEAMWORK}),
    ("建商之前蓋的案子我完全不了解", {MARKET}),
    # Written later, as unseen batch 1 (see UNSEEN), then used to add keywords.
    ("客戶嫌房子太貴，態度很差，我快受不了", {MINDSET}),
    ("看完房的客戶我都沒有再打電話", {FOLLOW_UP}),
    ("屋主問行情，我講不出個所以然", {MARKET}),
    ("今天門市好冷清，一組客人都沒有", {PROSPECTING}),
    ("文件少帶一份，又跑回公司拿", {SELF}),
    ("跟同事搶客人，被店長念了", {TEAMWORK}),
    # Unseen batch 2, likewise.
    ("今天被屋主唸了很久，心裡很不舒服", {MINDSET}),
    ("答應客戶要傳的資料到現在還沒傳", {FOLLOW_UP}),
    ("客戶問附近有沒有捷運，我講錯了", {MARKET}),
    ("店裡今天一個客人都沒進來", {PROSPECTING}),
    ("簽約的時候少印了一份文件", {SELF}),
    ("客戶說我講話太快，聽不懂", {COMMUNICATION}),
    ("店長說我太被動，要多跟前輩學", {TEAMWORK}),
    ("沒問清楚客戶要自住還是投資就開始介紹", {NEEDS}),
    # Issue 17's words, likewise.
    ("又跟同事撞單了，好煩", {COMPLIANCE, MINDSET}),
    ("客戶說要回去跟家人商量", {OBJECTIONS}),
    ("客戶問訂金可不可以退", {DEPOSITS}),
    ("客戶已讀不回，不知道還要不要再傳", {FOLLOW_UP}),
    ("客戶一直殺價，我不知道怎麼回", {OBJECTIONS}),
    ("客戶放我鴿子，白等一個小時", {FOLLOW_UP}),
]

ENGLISH: list[tuple[str, set[str]]] = [
    ("Client yelled at me about the price", {MINDSET, COMMUNICATION}),
    ("Nobody came in all afternoon", {PROSPECTING}),
    ("Forgot to call Mrs. Wang back", {FOLLOW_UP}),
    ("Couldn't answer when they asked about the school district", {MARKET}),
    ("Made a mistake in the contract, had to redo it", {SELF}),
    ("Everyone on the team closed a deal except me", {MINDSET, FOLLOW_UP}),
    ("He kept saying he'd think about it, no idea what he really wants", {NEEDS}),
    ("Felt like the buyer didn't believe a word I said", {TRUST}),
    ("Ran out of things to say in the car on the way to the viewing", {COMMUNICATION}),
    ("Showed them three flats before I found out their budget was way lower", {NEEDS}),
    ("The couple from Saturday still haven't replied to my messages", {FOLLOW_UP}),
    ("My manager criticised me in front of everyone", {TEAMWORK, MINDSET}),
    ("Didn't know anything about the developer's previous projects", {MARKET}),
    ("Late for the morning meeting again", {SELF}),
    ("Got hung up on five times today, feeling pretty low", {MINDSET}),
    ("Walk-ins were dead all day", {PROSPECTING}),
    ("Pushed too hard for the deposit and the client walked out", {COMMUNICATION, DEPOSITS}),
    ("Lost track of who I promised to send floor plans to", {FOLLOW_UP, SELF}),
    ("Too shy to ask the senior agents for help", {TEAMWORK}),
    ("A past client sent me her sister, I should thank her properly", {RELATIONSHIPS}),
    ("Client asked what's wrong with the unit and I dodged the question", {TRUST}),
    ("Stressed out, nothing is working", {MINDSET}),
    ("Messed up the numbers on the mortgage calculation", {SELF, MARKET}),
    ("Handed out flyers for hours and got zero calls", {PROSPECTING}),
    ("Couldn't explain why our project is better than the one next door", {MARKET, COMMUNICATION}),
    ("Wasted the whole morning on my phone instead of planning", {SELF}),
    ("Haven't checked in with any of last year's buyers", {RELATIONSHIPS}),
    ("Argued with a colleague over who gets the walk-in", {TEAMWORK}),
    # Written later, as unseen batch 1 (see UNSEEN), then used to add keywords.
    ("A client screamed at me over the phone and I lost it", {MINDSET}),
    ("Didn't call back the lady who viewed the penthouse", {FOLLOW_UP}),
    ("Couldn't tell them the property fee or parking prices", {MARKET}),
    ("Dead quiet at the sales office, zero visitors", {PROSPECTING}),
    ("Typed the wrong unit number on the deposit form", {SELF}),
    ("They want four bedrooms on a two-bedroom budget and I didn't handle it", {NEEDS}),
    ("Felt awkward asking my team leader for advice", {TEAMWORK}),
    ("Didn't know what to talk about during the drive", {COMMUNICATION}),
    ("Three weeks without a sale, starting to panic", {FOLLOW_UP, MINDSET}),
    ("Glossed over the noise from the highway when they asked", {TRUST}),
    ("Never congratulated my old buyers when they moved in", {RELATIONSHIPS}),
    ("Overslept and the whole morning was chaos", {SELF}),
    # Unseen batch 2, likewise.
    ("The buyer called me a liar in front of his wife", {MINDSET, TRUST}),
    ("Meant to follow up with the Lis but ran out of time", {FOLLOW_UP}),
    ("Didn't know the maintenance fees for the tower", {MARKET}),
    ("Sat at the desk all day, phone never rang", {PROSPECTING}),
    ("Sent the wrong floor plan to a client", {SELF}),
    ("I talked the whole time and never asked what they were looking for", {COMMUNICATION, NEEDS}),
    ("Senior agent took over my client without telling me", {TEAMWORK}),
    ("Froze when the client asked for a discount", {COMMUNICATION, OBJECTIONS}),
    ("Two months in and still no sale, honestly thinking of quitting", {MINDSET}),
    ("Told them the view was unobstructed, but a building is going up next year", {TRUST}),
    ("Forgot my former client's birthday even though it was in my notes", {RELATIONSHIPS}),
    ("Spent the afternoon on small tasks and never called anyone", {FOLLOW_UP, SELF}),
    # Issue 17's words, likewise.
    ("A colleague and I both say it's our client, same client twice", {COMPLIANCE, TEAMWORK}),
    ("She has to talk it over with her husband first", {OBJECTIONS}),
    ("Client haggled hard and I almost offered a discount myself", {OBJECTIONS}),
    ("They asked if the deposit is refundable", {DEPOSITS}),
    ("Client read my message and never replied", {FOLLOW_UP}),
    ("Second no-show this week", {FOLLOW_UP, SHOWINGS}),
    ("Another agency offered them a lower fee", {OBJECTIONS, MARKET}),
    ("Told the buyer prices will go up for sure", {COMPLIANCE, TRUST}),
]

# Unseen batch 3: written after the last keyword was added and never used to add one, so this is the rate to expect
# on text the keywords were not fitted to. Tune keywords on these and they move up into the lists above; then write a
# new unseen batch.
UNSEEN: list[tuple[str, set[str]]] = [
    ("客户一进门就说我们房子贵，我脸一下就拉下来了", {MINDSET, COMMUNICATION}),
    ("前天留了电话的客户，今天才想起来还没打", {FOLLOW_UP}),
    ("客户问公摊多少，我翻了半天资料才找到", {MARKET}),
    ("下雨天，店里一个人都没有", {PROSPECTING}),
    ("网签的时候客户名字少打了一个字", {SELF}),
    ("客户说想离父母近一点，我没当回事，还是推了远的", {NEEDS}),
    ("经理让我周报写详细点，我觉得有点烦", {TEAMWORK, MINDSET}),
    ("客户一沉默我就慌，话越说越多", {COMMUNICATION}),
    ("干了三个月还没开单，家里人都劝我别干了", {MINDSET}),
    ("客户问房子有没有漏水，我说没有，其实我也不确定", {TRUST}),
    ("老客户推荐的朋友今天来看房了，还没谢谢老客户", {RELATIONSHIPS}),
    ("今天的事情太多，顾了这头忘了那头", {SELF}),
    ("客户拿竞品的优惠来压价，我接不住", {MARKET, OBJECTIONS}),
    ("在小区门口发了一上午单页，没人理", {PROSPECTING}),
    ("客戶一直挑毛病，我忍不住回了幾句", {MINDSET}),
    ("看過房的客戶，這禮拜都還沒追蹤", {FOLLOW_UP}),
    ("屋主問這一區最近成交價，我說不出來", {MARKET}),
    ("整天都在等電話，都沒人打來", {PROSPECTING}),
    ("斡旋單的金額填錯，被店長退回", {SELF}),
    ("帶看的時候不知道要跟客戶聊什麼", {COMMUNICATION}),
    ("The client was really rude and I took it personally", {MINDSET}),
    ("Haven't followed up with anyone from the open house", {FOLLOW_UP}),
    ("Got the completion date of the new tower wrong", {MARKET, SELF}),
    ("Not a single enquiry all week", {PROSPECTING}),
    ("Left the signed offer in the car overnight", {SELF}),
    ("Kept showing big units to a retired couple who wanted something small", {NEEDS}),
    ("My team leader said I'm too passive", {TEAMWORK}),
    ("I talk too fast when I'm nervous and clients look lost", {COMMUNICATION}),
    ("Everyone else seems to be closing and I'm stuck", {MINDSET}),
    ("Said the flat gets morning sun without checking", {TRUST}),
    ("Should send a card to the family who bought in March", {RELATIONSHIPS}),
    ("No idea where the day went, got nothing done", {SELF}),
]

# The floors asserted below, a little under what was measured (bot/matcher.py and docs/tips.md state the measures).
MINIMUM = {"zh-Hans": 0.9, "zh-Hant": 0.95, "en": 0.9, "all": 0.9, "unseen": 0.3}
LABELLED = {"zh-Hans": SIMPLIFIED, "zh-Hant": TRADITIONAL, "en": ENGLISH}
NOW = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)


def hard_day(text: str | None, mood: int | None = None) -> Written:
    return Written(went_well=None, to_improve=text, lesson=None, tomorrow=None, mood=mood)


def hits(examples: list[tuple[str, set[str]]]) -> int:
    lib = library()
    return sum(1 for text, accepted in examples if match_topic(lib, hard_day(text)) in accepted)


def test_the_labelled_examples_are_as_many_as_promised_and_name_real_topics() -> None:
    known = {topic.id for topic in library().topics}
    assert len(SIMPLIFIED) >= 40 and len(TRADITIONAL) >= 10 and len(ENGLISH) >= 25
    for text, accepted in [*SIMPLIFIED, *TRADITIONAL, *ENGLISH, *UNSEEN]:
        assert 1 <= len(accepted) <= 2 and accepted <= known, text
    texts = [text for text, _ in [*SIMPLIFIED, *TRADITIONAL, *ENGLISH, *UNSEEN]]
    assert len(set(texts)) == len(texts)


def test_hit_rate_per_language_and_overall() -> None:
    for language, examples in LABELLED.items():
        assert hits(examples) / len(examples) >= MINIMUM[language], language
    every = [*SIMPLIFIED, *TRADITIONAL, *ENGLISH]
    assert hits(every) / len(every) >= MINIMUM["all"]
    assert hits(UNSEEN) / len(UNSEEN) >= MINIMUM["unseen"]


def test_the_stated_hit_rates_are_the_measured_ones() -> None:
    """The module docstring tells how well matching works: a keyword change that moves a rate must update it."""
    import bot.matcher

    stated = bot.matcher.__doc__ or ""
    every = [*SIMPLIFIED, *TRADITIONAL, *ENGLISH]
    for examples in [*LABELLED.values(), every, UNSEEN]:
        assert f"{hits(examples)}/{len(examples)}" in stated


def test_nothing_to_go_on_gives_no_topic() -> None:
    lib = library()
    assert match_topic(lib, Written(None, None, None, None, None)) is None
    assert match_topic(lib, hard_day("今天天气不错，中午吃了面")) is None
    assert match_topic(lib, hard_day("Had noodles for lunch", mood=3)) is None
    assert match_topic(lib, hard_day("   ", mood=5)) is None


def test_a_low_mood_alone_gets_mindset() -> None:
    lib = library()
    assert match_topic(lib, hard_day(None, mood=1)) == MINDSET
    assert match_topic(lib, hard_day("今天天气不错", mood=2)) == MINDSET
    assert match_topic(lib, hard_day(None, mood=3)) is None
    # A low mood does not outweigh what was written.
    assert match_topic(lib, hard_day("忘了给王姐回电话", mood=1)) == FOLLOW_UP


def test_what_was_hard_outweighs_the_lesson_which_outweighs_what_went_well() -> None:
    lib = library()
    went_well, lesson, hard = "老业主给我转介绍了一个客户", "做事要细心，合同要核对", "忘了给王姐回电话"
    assert match_topic(lib, Written(went_well, hard, lesson, None, 3)) == FOLLOW_UP
    assert match_topic(lib, Written(went_well, None, lesson, None, 3)) == SELF
    assert match_topic(lib, Written(went_well, None, None, None, 3)) == RELATIONSHIPS
    assert match_topic(lib, Written(None, None, None, "明天给王姐回电话", 3)) == FOLLOW_UP
    # Equal totals (2 from one lesson keyword, 2 from two went-well keywords): the heavier answer wins.
    assert lib.topic_scores("同事帮忙") == {TEAMWORK: 2} and lib.topic_scores("要诚信") == {TRUST: 1}
    assert match_topic(lib, Written("同事帮忙", None, "要诚信", None, 3)) == TRUST


def test_ties_are_broken_the_same_way_every_time() -> None:
    lib = library()
    # One follow-up word (带看) and one communication word (聊啥): the topic listed first in topics.yaml wins.
    assert lib.topic_scores("带看时聊啥") == {FOLLOW_UP: 1, COMMUNICATION: 1}
    assert {match_topic(lib, hard_day("带看时聊啥")) for _ in range(5)} == {FOLLOW_UP}
    # With the topics listed the other way round, the other wins; a low mood prefers mindset whatever the order.
    reversed_order = replace(lib, topics=tuple(reversed(lib.topics)))
    assert match_topic(reversed_order, hard_day("带看时聊啥")) == COMMUNICATION
    assert lib.topic_scores("被经理说了，心情很差") == {MINDSET: 1, TEAMWORK: 1}
    assert match_topic(reversed_order, hard_day("被经理说了，心情很差", mood=4)) == TEAMWORK
    assert match_topic(reversed_order, hard_day("被经理说了，心情很差", mood=1)) == MINDSET


@pytest.mark.parametrize(
    ("text", "scores"),
    [
        ("Called back the couple from Sunday", {FOLLOW_UP: 1}),  # "called back" is "call back"
        ("Couldn’t answer", {MARKET: 1}),  # a phone's curly apostrophe
        ("Checked in with two of last year's buyers", {RELATIONSHIPS: 1}),  # "check in", not "check" (self-management)
        ("down payment", {NEEDS: 1}),  # not "down" (mindset)
        ("朋友圈", {PROSPECTING: 1}),  # not "朋友" (relationships)
        ("户型图", {MARKET: 1}),  # not "户型" (needs)
    ],
)
def test_keywords_are_found_as_agents_write_them(text: str, scores: dict[str, int]) -> None:
    assert library().topic_scores(text) == scores


# Keywords that predate the matcher and break the rules below; new ones must keep them.
SHARED_BEFORE = {"资料", "老客户", "介绍", "冷场", "lead"}
SINGLE_CHARACTER_BEFORE = {"骂", "吵", "烦", "忍", "骗", "约", "拖", "懒"}


def test_a_keyword_points_to_one_topic_and_zh_keywords_have_two_characters_at_least() -> None:
    owners: dict[str, set[str]] = {}
    for topic in library().topics:
        for word in [*topic.keywords["zh"], *topic.keywords["en"]]:
            owners.setdefault(word.lower(), set()).add(topic.id)
    assert {word for word, topics in owners.items() if len(topics) > 1} == SHARED_BEFORE
    short = {word for topic in library().topics for word in topic.keywords["zh"] if len(word) < 2}
    assert short == SINGLE_CHARACTER_BEFORE


def seen_once(*tip_ids: str, rating: int = 0) -> dict[str, TipState]:
    return {
        tip_id: TipState(agent_id=7, tip_id=tip_id, shown=1, rating=rating, last_shown_at=NOW) for tip_id in tip_ids
    }


def test_the_matched_tip_is_of_the_matched_topic_and_rotates() -> None:
    lib = library()
    written = hard_day("忘了给王姐回电话")
    first, topic = matched_tip(lib, 7, {}, written)
    assert topic == FOLLOW_UP and FOLLOW_UP in first.topics
    second, again = matched_tip(lib, 7, seen_once(first.id), written)
    assert again == FOLLOW_UP and FOLLOW_UP in second.topics and second.id != first.id
    assert matched_tip(lib, 7, {}, written) == (first, FOLLOW_UP)


def test_no_match_gets_the_general_rotation() -> None:
    lib = library()
    tip, topic = matched_tip(lib, 7, {}, hard_day("今天天气不错"))
    assert topic is None and tip == choose(lib, 7, {}, None)


def test_a_topic_rated_all_down_falls_back_to_the_rotation_and_then_to_any_tip() -> None:
    lib = library()
    written = hard_day("忘了给王姐回电话")
    topic_down = seen_once(*(tip.id for tip in lib.tips_in(FOLLOW_UP)), rating=-1)
    tip, topic = matched_tip(lib, 7, topic_down, written)
    assert topic is None and FOLLOW_UP not in tip.topics
    all_down = seen_once(*(tip.id for tip in lib.tips), rating=-1)
    tip, topic = matched_tip(lib, 7, all_down, written)
    assert topic is None and tip == choose(lib, 7, {}, None)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.text(alphabet=st.sampled_from("客户忘了回电话带看心情 calledbackdown-’'"))),
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.integers(min_value=1, max_value=5)),
)
def test_any_text_gets_a_known_topic_or_none(
    went_well: str | None, hard: str | None, lesson: str | None, mood: int | None
) -> None:
    lib = library()
    topic = match_topic(lib, Written(went_well, hard, lesson, went_well, mood))
    assert topic is None or lib.topic(topic) is not None


# The words of the middle of the job that used to reach topics with no tip on them (issue 17), as agents write them
# in each language: each now reaches a topic holding the tip written for it.
@pytest.mark.parametrize(
    ("text", "topic", "tip_id"),
    [
        ("客户又砍价了", OBJECTIONS, "objection-no-solo-discounts"),
        ("客戶一直殺價", OBJECTIONS, "objection-no-solo-discounts"),
        ("The buyer tried to haggle", OBJECTIONS, "objection-no-solo-discounts"),
        ("跟同事撞单了", COMPLIANCE, "ownership-settle-it-privately"),
        ("跟同事撞單了", COMPLIANCE, "ownership-settle-it-privately"),
        ("Same client as my colleague", COMPLIANCE, "ownership-settle-it-privately"),
        ("客户爽约了", FOLLOW_UP, "followup-when-a-client-no-shows"),
        ("客戶爽約了", FOLLOW_UP, "followup-when-a-client-no-shows"),
        ("Another no-show", FOLLOW_UP, "followup-when-a-client-no-shows"),
        ("客户已读不回", FOLLOW_UP, "followup-read-and-no-reply"),
        ("客戶已讀不回", FOLLOW_UP, "followup-read-and-no-reply"),
        ("Left on read again", FOLLOW_UP, "followup-read-and-no-reply"),
        ("不知道谁是决策人", OBJECTIONS, "objection-invite-the-decider"),
        ("不知道誰是決策人", OBJECTIONS, "objection-invite-the-decider"),
        ("Never met the decision maker", OBJECTIONS, "objection-invite-the-decider"),
        ("客户问定金能不能退", DEPOSITS, "deposit-binding-or-refundable"),
        ("客戶問訂金能不能退", DEPOSITS, "deposit-binding-or-refundable"),
        ("Asked whether the deposit is refundable", DEPOSITS, "deposit-binding-or-refundable"),
        ("带看前忘了确认时间", SHOWINGS, "showing-confirm-the-day-before"),
        ("帶看前忘了確認時間", SHOWINGS, "showing-confirm-the-day-before"),
        ("Forgot to debrief after the viewing", SHOWINGS, "showing-same-day-debrief"),
    ],
)
def test_the_words_of_the_middle_of_the_job_reach_a_topic_with_their_tip(text: str, topic: str, tip_id: str) -> None:
    lib = library()
    assert match_topic(lib, hard_day(text)) == topic
    assert tip_id in {tip.id for tip in lib.tips_in(topic)}
