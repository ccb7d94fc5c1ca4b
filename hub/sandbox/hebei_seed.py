"""Deterministic service matters for the Hebei sandbox (事项清单种子数据).

A seeded ``random.Random`` draws realistic names from a small vocabulary per department,
so the same seed always gives the same list, and 100,000 rows build in about a second.
Row 0 is always scenario 6's food business licence: 10 working days promised against a
legal 20, at most one on-site visit.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from hub.model.validators import credit_code_check_char
from hub.sandbox.storage import format_time

REGION = "130199"
TOWNS = ("130199001", "130199002", "130199003", "130199004")
SEED_EPOCH = datetime(2025, 1, 1, 8, 0, 0)
ONLINE_URL = "https://www.hbzwfw.gov.cn/hbzw/sxcx/itemList/xz_index.do?taskCode={}"

#: The exchange tables' columns for a matter, in the order the WSDL lists them.
MATTER_COLUMNS = (
    "task_code", "catalog_code", "task_name", "task_type", "dept_code", "dept_name",
    "use_level", "anticipate_day", "promise_day", "limit_scene_num", "is_online",
    "online_handle_url", "project_type", "task_state", "task_version", "town_code",
    "village_code", "cd_operation", "cd_time",
)  # fmt: skip


@dataclass(frozen=True)
class Department:
    """A district department that lists matters: hub unit code, name, credit code."""

    unit_code: str
    name: str
    objects: tuple[str, ...]

    @cached_property
    def credit_code(self) -> str:
        """A well-formed (fictitious) 统一社会信用代码 of an organ in the district."""
        body = f"11{REGION}MB{abs(hash_name(self.unit_code)) % 10_000_000:07d}"
        return body + credit_code_check_char(body)


def hash_name(text: str) -> int:
    """A stable hash (Python's own is salted per process)."""
    value = 0
    for char in text:
        value = (value * 131 + ord(char)) % 2_147_483_647
    return value


DEPARTMENTS = (
    Department("JKQ-SJJ", "经开区市场监督管理局", ("食品经营", "药品零售", "特种设备使用",
               "计量器具", "广告发布", "个体工商户", "食品小作坊", "医疗器械经营")),
    Department("JKQ-SPJ", "经开区行政审批局", ("企业设立", "建设工程规划", "施工许可",
               "排水许可", "户外广告设置", "道路挖掘", "公共场所卫生", "人力资源服务")),
    Department("JKQ-RSJ", "经开区人力资源和社会保障局", ("社会保险", "就业创业", "职业技能",
               "失业保险金", "劳动用工", "退休人员")),
    Department("JKQ-JYJ", "经开区教育局", ("民办学校", "教师资格", "校外培训机构", "学籍")),
    Department("JKQ-ZJJ", "经开区住房和城乡建设局", ("商品房预售", "建筑业企业资质",
               "物业服务", "房屋租赁", "燃气经营")),
    Department("JKQ-WJJ", "经开区卫生健康局", ("医疗机构执业", "母婴保健", "放射诊疗",
               "护士执业", "出生医学证明")),
    Department("JKQ-MZJ", "经开区民政局", ("社会团体", "养老机构", "婚姻登记", "最低生活保障",
               "临时救助")),
    Department("JKQ-HBJ", "经开区生态环境分局", ("建设项目环评", "排污许可", "危险废物",
               "辐射安全")),
    Department("JKQ-CZJ", "经开区财政局", ("政府采购", "会计代理记账", "非税收入")),
    Department("JKQ-MZZJ", "经开区民族宗教事务局", ("宗教活动场所", "宗教教职人员")),
)  # fmt: skip

#: Action word → matter type (GB/T 39046 appendix A).
ACTIONS = (
    ("许可", "01"), ("变更", "01"), ("延续", "01"), ("注销", "01"), ("核准", "01"),
    ("登记", "07"), ("确认", "07"), ("备案", "10"), ("补贴申领", "05"), ("检查", "06"),
    ("证明开具", "20"), ("信息查询", "20"),
)  # fmt: skip

FOOD_DEPT = DEPARTMENTS[0]
FOOD_LICENCE_TASK_CODE = f"{FOOD_DEPT.credit_code}000001"


def food_licence(cd_time: datetime) -> dict[str, Any]:
    """Scenario 6: 食品经营许可, legal 20 / promised 10 working days, at most one visit."""
    return {
        "task_code": FOOD_LICENCE_TASK_CODE,
        "catalog_code": "0100000001",
        "task_name": "食品经营许可",
        "task_type": "01",
        "dept_code": FOOD_DEPT.credit_code,
        "dept_name": FOOD_DEPT.name,
        "use_level": "4",
        "anticipate_day": 20,
        "promise_day": 10,
        "limit_scene_num": 1,
        "is_online": "1",
        "online_handle_url": ONLINE_URL.format(FOOD_LICENCE_TASK_CODE),
        "project_type": "2",
        "task_state": "1",
        "task_version": 1,
        "town_code": "",
        "village_code": "",
        "cd_operation": "I",
        "cd_time": format_time(cd_time),
    }


def _matter(rng: random.Random, index: int) -> dict[str, Any]:
    dept = DEPARTMENTS[rng.randrange(len(DEPARTMENTS))]
    action, task_type = ACTIONS[rng.randrange(len(ACTIONS))]
    town_level = rng.random() < 0.2
    town = rng.choice(TOWNS) if town_level else ""
    legal = rng.choice((0, 5, 10, 15, 20, 30, 60))
    promised = 0 if legal == 0 else max(1, round(legal * rng.uniform(0.3, 0.8)))
    online = rng.random() < 0.8
    task_code = f"{dept.credit_code}{index + 1:06d}"
    return {
        "task_code": task_code,
        "catalog_code": f"{task_type}{index + 1:08d}",
        "task_name": f"{rng.choice(dept.objects)}{action}",
        "task_type": task_type,
        "dept_code": dept.credit_code,
        "dept_name": dept.name,
        "use_level": "5" if town_level else "4",
        "anticipate_day": legal,
        "promise_day": promised,
        "limit_scene_num": rng.choice((0, 0, 1, 1, 1, 2)),
        "is_online": "1" if online else "0",
        "online_handle_url": ONLINE_URL.format(task_code) if online else "",
        "project_type": "2" if promised else "1",
        "task_state": "1",
        "task_version": 1,
        "town_code": town,
        "village_code": "",
        "cd_operation": "I",
        "cd_time": str(SEED_EPOCH + timedelta(seconds=7 * index)),  # same format, faster
    }


def generate_matters(count: int, seed: int = 20250101) -> Iterator[dict[str, Any]]:
    """``count`` matters, the food licence first, cd_time rising 7 s apart from 2025-01-01."""
    if count <= 0:
        return
    yield food_licence(SEED_EPOCH)
    rng = random.Random(seed)
    for index in range(1, count):
        yield _matter(rng, index)
