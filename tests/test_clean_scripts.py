"""The line rules in every script family: sentence ends, words, headings, template lines.

The body sentences are real sentences from lang-dev (lingua's test data, Apache-2.0), kept here
so that each script family has a test even without the shared data.
"""

from __future__ import annotations

import pytest

from pagestream.transforms.clean.sites import line_key
from pagestream.transforms.clean.text import clean_text
from pagestream.transforms.scripts import (
    ends_sentence,
    han_or_kana,
    strip_terminal,
    unpunctuated_script,
    word_count,
)

# (family, body sentence): one line each, as scraped.
SENTENCES = [
    (
        "arabic, ends with the Arabic comma",
        "ومن الواضح أن يكون نظيفا ، حبيبات واضحة في نهاية الخط، حسب ما قال المهندس،",
    ),
    (
        "arabic",
        "هم الوطنية، توجه الرئيس أحمدي نجاد بالكلام إلى الولايات المتحدة ومن معها من المتصهينين، قائلاً: اغضبوا منا، وموتوا بغيظكم.",
    ),
    (
        "persian, zero-width non-joiners",
        "انواع سیستم‌های فایروال معمولاً به سه دسته عمومی تقسیم بندی میشوند.",
    ),
    (
        "urdu full stop",
        "اسی طرح تلہن کا پروڈکشن 3.24 کروڑ ٹن ہوا جو گزشتہ سال کے مقابلے 4.85 فیصد زیادہ ہے۔",
    ),
    (
        "devanagari danda",
        "इसलिए देखें, जितना आदमी जीवन को बचाने की चेष्टा में रत होगा, उतना प्रेम शून्य हो जाएगा।",
    ),
    ("bengali danda", "উক্ত স্থান হতে হেমন্ত ও শীতকালে কাঞ্চন জংঘার সৌন্দর্য উপভোগ করা যায়।"),
    ("bengali, short", "০৯ নং ওয়ার্ডের বিভিন্ন শিক্ষা প্রতিষ্ঠানে উঁচু-নিচু বেঞ্চ সরবরাহ।"),
    (
        "chinese",
        "“啪”又是一声脆响，斜眼看着韩伟：“你就不能把饭菜咽下去再说话，我的优点你从来都不学。”",
    ),
    (
        "japanese",
        "ある日、クラス担任の代理でやってきた、イケメンだけど冷徹でヒネクレ者の数学教師に恋をしてしまう。",
    ),
    (
        "korean",
        "이 교수는 미국 질병관리국에 따르면 현재 미국 성인의 65% 이상이 과체중이며, 매년 30만 명이 비만으로 사망하고 있다고 말했다.",
    ),
    (
        "greek question mark",
        "Δηλαδή μπορεί κανείς εύκολα να τραγουδήσει τους σκοπούς των συρτών χορών, χωρίς να τους συνοδεύει όργανο;",
    ),
    ("hebrew", "במכשיר סטנדרטי לקריאת ספרים אלקטרוניים ניתן לאחסן אלפי ספרים."),
    ("tamil", "இங்கு பாயும் பனாஸ் ஆற்றின் காரணமாக மாவட்டத்திற்கு பனாஸ்காண்டா எனப் பெயரிடப்பட்டது."),
    (
        "armenian full stop",
        "Հայաստանի կառավարությունը երեկ հաստատեց նոր ծրագիրը, որը կգործի մինչև տարեվերջ։",
    ),
    ("ethiopic full stop", "የኢትዮጵያ መንግሥት ዛሬ አዲስ የትምህርት ፖሊሲ ማውጣቱን ሚኒስትሩ ለጋዜጠኞች ገልጸዋል።"),
    (
        "thai, no final mark",
        "โรงพยาบาลสัตว์มหาวิทยาลัยเกษตรศาสตร์ได้เปิดให้บริการตรวจรักษาสัตว์เลี้ยงทุกชนิดตั้งแต่วันจันทร์ถึงวันศุกร์เวลาแปดโมงเช้าถึงสี่โมงเย็นโดยไม่เสียค่าบริการ",
    ),
]
NAV = "Inicio | Noticias | Deportes | Cultura | Contacto"
SHARE = "Facebook Twitter WhatsApp Telegram"


@pytest.mark.parametrize("family, sentence", SENTENCES, ids=[f for f, _ in SENTENCES])
def test_body_sentence_is_kept_whole_between_template_lines(family, sentence):
    page = f"{NAV}\n\n{sentence}\n\n{SHARE}\n\n© 2024 news.example"
    result = clean_text(page)
    assert result.text == sentence
    assert result.kept_lines == 1


@pytest.mark.parametrize("family, sentence", SENTENCES, ids=[f for f, _ in SENTENCES])
def test_sentence_alone_is_kept_whole(family, sentence):
    assert clean_text(sentence).text == sentence


@pytest.mark.parametrize(
    "line, ends",
    [
        ("He left.", True),
        ("Is it?”", True),
        ("उतना प्रेम शून्य हो जाएगा।", True),
        ("بقيظكم؟", True),
        ("ہے۔", True),
        ("是这样。」", True),
        ("ծրագիրը։", True),
        ("ገልጸዋል።", True),
        ("ούτε όργανο;", True),  # Greek question mark
        ("var x = 1;", False),  # not Greek: a semicolon ends no sentence
        ("Related Articles", False),
        ("Home | News", False),
    ],
)
def test_ends_sentence(line, ends):
    assert ends_sentence(line) is ends


@pytest.mark.parametrize(
    "text, words",
    [
        ("The cat sat.", 3),
        ("钟南山院士说", 6),  # a Han character is a word, as word_count counts it
        ("กขคง", 1),  # Thai: one word per 4 characters of a run
        ("กขคงจฉชซฌ", 3),
        ("abc กขคงจ", 3),
        ("Москва — столица", 3),
    ],
)
def test_word_count_by_script(text, words):
    assert word_count(text) == words


def test_script_predicates():
    assert han_or_kana("钟南山院士说：武汉")
    assert not han_or_kana("Moscow 武")
    assert unpunctuated_script("โรงพยาบาลสัตว์")
    assert not unpunctuated_script("Москва")
    assert strip_terminal("उतना प्रेम शून्य हो जाएगा।") == "उतना प्रेम शून्य हो जाएगा"
    assert strip_terminal("“Is it?”") == "“Is it"


def test_persian_zero_width_non_joiner_is_kept():
    sentence = SENTENCES[2][1]
    assert "\u200c" in sentence
    assert clean_text(sentence).text == sentence


def test_headline_in_a_caseless_script_is_kept_before_the_article():
    title = "وزير الخارجية يبحث مع نظيره الفرنسي الأزمة في سوريا"
    body = SENTENCES[1][1]
    page = f"{NAV}\n\n{title}\n\n24 فبراير 2016\n\n{body}"
    assert clean_text(page).text.split("\n\n") == [title, body]


def test_long_chinese_headline_is_a_heading():
    title = "国务院常务会议部署进一步推动中小企业发展的政策措施"  # 25 characters
    body = SENTENCES[7][1]
    assert clean_text(f"{NAV}\n\n{title}\n\n{body}").text.split("\n\n") == [title, body]


def test_unpunctuated_chinese_menu_text_is_not_prose():
    menu = "首页新闻体育财经娱乐科技汽车房产"  # 16 characters, no mark: a menu, not prose
    body = SENTENCES[7][1]
    assert clean_text(f"{body}\n\n{menu}").text == body


def test_thai_headline_without_mark_is_not_prose():
    headline = "นายกรัฐมนตรีเปิดงานวันเด็กแห่งชาติ"  # short: a heading, not a sentence
    body = SENTENCES[-1][1]
    related = "ข่าวที่เกี่ยวข้อง"
    result = clean_text(f"{body}\n\n{related}\n\n{headline}")
    assert result.text == body


def test_site_slogan_sentence_is_removed_only_by_repetition():
    slogan = "Η αλήθεια πάνω από όλα, κάθε μέρα."
    body = SENTENCES[10][1]
    assert clean_text(f"{body}\n\n{slogan}").text.split("\n\n") == [body, slogan]
    repeated = frozenset({line_key(slogan)})
    assert clean_text(f"{body}\n\n{slogan}", repeated).text == body


def test_prose_with_one_glued_url_slug_is_not_code():
    paragraph = (
        "Drupbesproeiing-laat-wins-stroom-as-dit-reg-bestuur-word Een van die mees doeltreffende "
        "besproeiingsmetodes is drupbesproeiing, wat die water stadig by die wortels afgee."
    )
    assert clean_text(paragraph).text == paragraph
    assert dict(clean_text("var-class-name-one-two-three-four-five x y").removed) == {"code": 1}


@pytest.mark.parametrize(
    "notice",
    [
        "Wir verwenden Cookies, um Ihnen das beste Nutzererlebnis auf unserer Website zu bieten.",
        "Nous utilisons des cookies pour vous offrir la meilleure expérience sur notre site web.",
        "Utilizamos cookies propias y de terceros para mejorar nuestros servicios; si continúa "
        "navegando, acepta su uso.",
        "Мы используем файлы cookie, чтобы вам было удобнее пользоваться нашим сайтом.",
    ],
)
def test_cookie_notice_addressed_to_the_reader_in_other_languages(notice):
    body = SENTENCES[10][1]
    result = clean_text(f"{notice}\n\n{body}")
    assert result.text == body
    assert dict(result.removed) == {"cookie": 1}


def test_article_sentence_about_cookies_in_german_stays():
    line = "Die Bäckerin sagte, sie habe am Sonntag mehr als 500 Cookies an Touristen verkauft."
    assert clean_text(line).text == line


@pytest.mark.parametrize(
    "sentence, link",
    [
        (
            "Die Regierung hat am Dienstag den Haushalt beschlossen, sagte ein Sprecher.",
            " Weiterlesen »",
        ),
        ("Le gouvernement a adopté le budget mardi, a indiqué un porte-parole.", " Lire la suite"),
        (
            "Правительство во вторник утвердило бюджет на следующий год, сообщил представитель.",
            " Читать далее",
        ),
        ("政府周二批准了明年的预算，官员说，成员们同意适度增加学校和道路的支出。", "阅读全文"),
    ],
)
def test_trailing_read_more_link_is_cut_in_other_languages(sentence, link):
    assert clean_text(sentence + link).text == sentence


EN_BODY = (
    "The committee met on Tuesday to discuss the budget for the coming year, officials said. "
    "Members agreed to raise spending on schools and roads by a modest amount."
)
BG_BODY = (
    "Защитните покривки, които астматиците често използват за матраците, все още не са "
    "въведени в болниците, каза министърът."
)


@pytest.mark.parametrize(
    "line, body, reason",
    [
        ("04 de mayo 2022, 12:00 A. M.", EN_BODY, "date"),
        ("4 октомври 2021 г.", BG_BODY, "date"),
        ("Thursday, 12 March 2021.", EN_BODY, "date"),
        ("Below are steps you can take to whitelist our site on your browser:", EN_BODY, "label"),
        ("Wenn Dir der Artikel gefallen hat, teile ihn auf:", EN_BODY, "label"),
    ],
)
def test_date_lines_and_calls_to_the_reader_before_a_colon(line, body, reason):
    other = body.replace("a", "ä").replace("а", "ъ")  # another paragraph, same script
    result = clean_text(f"{body}\n\n{line}\n\n{other}")
    assert dict(result.removed) == {reason: 1}


@pytest.mark.parametrize(
    "line",
    [
        "«Smartphonecryptoworkshop» war am 22.11.2013 in Berlin.",  # mentions a date: a sentence
        "Parallels Desktop Pro Edition is packed with extra features, including:",
        "Mae yna sawl wahanol fath o feicroscop, gan gynnwys:",
    ],
)
def test_sentences_with_a_date_or_introducing_a_list_stay(line):
    assert clean_text(line).text == line


@pytest.mark.parametrize(
    "widget, body",
    [
        ("Teilen Sie diesen Artikel!", EN_BODY),
        ("Abonnieren Sie unseren Newsletter.", EN_BODY),
        ("Suscríbete a nuestro boletín.", EN_BODY),
        ("Comentarios (12)", EN_BODY),
        ("Подпишитесь на нашу рассылку!", BG_BODY),
        ("分享到微信。", SENTENCES[7][1]),
        ("댓글 3개 보기.", SENTENCES[9][1]),
    ],
)
def test_share_subscribe_comment_widgets_in_other_languages(widget, body):
    other = body.replace("a", "ä").replace("а", "ъ").replace("。", "！").replace("다.", "다!")
    result = clean_text(f"{body}\n\n{widget}\n\n{other}")
    assert dict(result.removed) == {"widget": 1}


@pytest.mark.parametrize(
    "sentence",
    [
        "他分享了他的经验。",  # "share" inside a Chinese sentence
        "Em formato de mixtape apresenta “100 comentários”.",
        "Die Geschwister wollten das Erbe teilen und verkauften das Haus am Meer.",
    ],
)
def test_widget_words_inside_sentences_stay(sentence):
    assert clean_text(sentence).text == sentence
