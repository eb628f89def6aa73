"""Name and place tables for synthetic demo rosters.

Surname weights follow the published national frequency ranking (per 10,000 people, rounded),
with a few surnames common around Yichang (向, 覃, 望, 谭) weighted up. Given-name characters
are split by generation because a rural household is mostly grandparents and grandchildren.
Place names are illustrative: real township names of Yiling, made-up villages.
"""

from __future__ import annotations

SURNAME_WEIGHTS: dict[str, int] = {
    "王": 710, "李": 700, "张": 670, "刘": 540, "陈": 450, "杨": 310, "黄": 220, "赵": 200,
    "吴": 200, "周": 190, "徐": 150, "孙": 150, "马": 130, "朱": 130, "胡": 130, "郭": 120,
    "何": 120, "高": 110, "林": 110, "罗": 110, "郑": 100, "梁": 100, "谢": 80, "宋": 80,
    "唐": 80, "许": 70, "韩": 70, "冯": 70, "邓": 70, "曹": 70, "彭": 60, "曾": 60,
    "肖": 60, "田": 60, "董": 50, "袁": 50, "潘": 50, "于": 50, "蒋": 50, "蔡": 50,
    "余": 50, "杜": 50, "叶": 40, "程": 40, "苏": 40, "魏": 40, "吕": 40, "丁": 40,
    "任": 40, "沈": 40, "姚": 40, "卢": 40, "姜": 40, "崔": 30, "钟": 30, "谭": 50,
    "陆": 30, "汪": 30, "范": 30, "金": 30, "石": 30, "廖": 30, "贾": 30, "夏": 30,
    "韦": 30, "付": 30, "方": 30, "白": 30, "邹": 30, "孟": 30, "熊": 40, "秦": 30,
    "邱": 30, "江": 30, "尹": 20, "薛": 20, "闫": 20, "段": 20, "雷": 20, "侯": 20,
    "龙": 20, "史": 20, "陶": 20, "黎": 20, "贺": 20, "顾": 20, "毛": 20, "郝": 20,
    "龚": 20, "邵": 20, "万": 30, "严": 20, "覃": 50, "武": 20, "戴": 20, "莫": 20,
    "孔": 20, "向": 60, "汤": 20, "望": 30, "易": 20, "鲁": 20, "文": 20, "卞": 10,
}

# (first characters, second characters, single-character names) per generation and sex.
GivenNameTable = tuple[str, str, str]

ELDER_MALE: GivenNameTable = (
    "建国志德永长世家文光新春明大先兴学成正庆海金云红元",
    "国华明强军平林成生富安忠贵发荣昌才福山权清兵祥云民友全斌",
    "军伟勇华平斌刚强明兵林忠福贵",
)
ELDER_FEMALE: GivenNameTable = (
    "秀桂玉淑春翠凤金月美兰素红爱建小菊冬腊银",
    "英兰珍芳华梅莲琴香云霞娥凤花荣萍芝娟菊秀",
    "英兰芳华梅霞萍娟琴燕",
)
MIDDLE_MALE: GivenNameTable = (
    "海俊建晓志永小文新红国云春明德家立",
    "军伟勇涛磊斌峰波杰鹏辉刚亮超强东林平",
    "伟磊涛勇军斌峰波杰鹏辉刚亮超强",
)
MIDDLE_FEMALE: GivenNameTable = (
    "晓小春丽艳红海玉秀雪静慧美彩金",
    "丽敏艳丹娟燕霞玲琴芳萍红梅莉静",
    "丽敏艳丹娟燕霞玲琴芳萍静",
)
YOUNG_MALE: GivenNameTable = (
    "浩子宇俊博梓思一雨晨嘉明天文志家鑫星亦睿",
    "轩涵然宇辰航杰哲豪洋阳泽博宁鸣凯铭瑞诚锐",
    "浩宇博航杰哲豪洋阳泽睿凯",
)
YOUNG_FEMALE: GivenNameTable = (
    "欣子雨思梓诗佳紫语一可梦雅晓心若依静嘉美",
    "怡涵萱琪彤悦妍琳瑶婷雯琦蕾菲然晴馨璐宁萌",
    "琪彤悦妍琳瑶婷雯蕾菲晴萌",
)

# Yiling's townships; the first is rural so the `village` scale sits in a village, not a street office.
TOWNS: tuple[str, ...] = (
    "雾渡河镇", "小溪塔街道", "樟村坪镇", "分乡镇", "太平溪镇", "三斗坪镇", "乐天溪镇",
    "龙泉镇", "鸦鹊岭镇", "黄花镇", "下堡坪乡", "邓村乡", "官庄乡", "百里荒镇",
)
DISTRICTS: tuple[str, ...] = (
    "夷陵区", "西陵区", "伍家岗区", "点军区", "猇亭区", "远安县", "兴山县", "秭归县",
    "长阳县", "五峰县", "宜都市", "当阳市", "枝江市",
)
PLACE_WORDS = (
    "黄土", "石板", "柳树", "龙泉", "桃花", "杨柳", "青龙", "白果", "茶园", "松树", "金竹", "花果",
    "大堰", "长岭", "高山", "马鞍", "双河", "三岔", "五龙", "九龙", "红花", "竹林", "梅子", "橘园",
    "栗子", "天河", "凤凰", "仙女", "鹿苑", "新店", "石门", "土门", "云台", "峡口", "黄柏", "莲花",
    "白鹤", "平湖", "罗家", "田家", "向家", "覃家", "望家", "谭家", "杜家", "熊家", "万家", "易家",
)
PLACE_ENDINGS = "坪湾河坡岭冲溪口坝垭岗桥铺沟坳垴"

NOTES_BY_FLAG: dict[str, tuple[str, ...]] = {
    "living_alone": ("子女在外务工，平时一人在家", "耳背，来电请大声说话", "行动缓慢，开门需要时间"),
    "left_behind_child": ("父母在外务工，由祖辈照看", "孩子放学后常独自在家"),
    "disabled": ("腿脚不便，需要搀扶", "视力残疾", "听力残疾，可发短信"),
    "mental_illness": ("患精神障碍，按时服药；发病时请同时联系网格员和派出所", "情绪激动时勿单独上门"),
    "chronic_illness": ("高血压，常用药在床头柜", "糖尿病，注意低血糖", "有心脏病史", "慢阻肺，冬季易发作"),
}
GENERAL_NOTES: tuple[str, ...] = (
    "门口有狗，进院先喊人", "房屋在公路边，白天常无人", "屋后山坡雨季易滑坡", "家中存放农药",
    "使用柴火灶", "院门常锁，从侧门进", "家有蜂箱", "房屋为老旧土坯房", "二楼住人，一楼为仓库",
)

_DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 12 → 十二, 40 → 四十; numbers past 99 stay in Arabic digits."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones else "")
