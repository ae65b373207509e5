"""Code tables used on the cards (pure data)."""

from __future__ import annotations

#: GB/T 2261.1-2003 人的性别代码
SEX = {"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"}

#: GB/T 3304-1991 中国各民族名称的罗马字母拼写法和代码 (numeric codes), plus the two
#: extra codes seen on cards (docs/protocols.md 1.5: 97 其他, 98 外国血统中国籍人士)
NATION = {
    "01": "汉族", "02": "蒙古族", "03": "回族", "04": "藏族", "05": "维吾尔族", "06": "苗族", "07": "彝族",
    "08": "壮族", "09": "布依族", "10": "朝鲜族", "11": "满族", "12": "侗族", "13": "瑶族", "14": "白族",
    "15": "土家族", "16": "哈尼族", "17": "哈萨克族", "18": "傣族", "19": "黎族", "20": "傈僳族", "21": "佤族",
    "22": "畲族", "23": "高山族", "24": "拉祜族", "25": "水族", "26": "东乡族", "27": "纳西族", "28": "景颇族",
    "29": "柯尔克孜族", "30": "土族", "31": "达斡尔族", "32": "仫佬族", "33": "羌族", "34": "布朗族",
    "35": "撒拉族", "36": "毛南族", "37": "仡佬族", "38": "锡伯族", "39": "阿昌族", "40": "普米族",
    "41": "塔吉克族", "42": "怒族", "43": "乌孜别克族", "44": "俄罗斯族", "45": "鄂温克族", "46": "德昂族",
    "47": "保安族", "48": "裕固族", "49": "京族", "50": "塔塔尔族", "51": "独龙族", "52": "鄂伦春族",
    "53": "赫哲族", "54": "门巴族", "55": "珞巴族", "56": "基诺族", "97": "其他", "98": "外国血统中国籍人士",
}

#: GB 11643-1999 / ISO 7064 MOD 11-2 weights and check characters
_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    """Check character of an 18-character citizen identity number (GB 11643-1999 clause 5.2)."""
    if len(first17) != 17 or not first17.isdigit() or not first17.isascii():
        raise ValueError("need 17 digits")
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def id_number_valid(number: str) -> bool:
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit():
        return False
    return id_check_char(number[:17]) == number[17].upper()
