"""The journey in Chinese (chosen from Accept-Language): the amount in uppercase numerals
(大写), every label from the zh-CN catalogue; the authorizer rejects with a reason; the switch
on every page turns the page into English."""

from __future__ import annotations

import re
import secrets

from tests.web.conftest import Web, shot

ZH = "zh-CN,zh;q=0.9,en;q=0.5"


def test_pay_review_and_authorizer_rejects_in_chinese(web: Web) -> None:
    created = web.create(f"LD-{secrets.token_hex(3)}", "100100.50", "广州五金贸易有限公司")
    pid = created["payment_id"]
    buyer = web.page(ZH)
    buyer.goto(web.url + created["pay_url"])
    assert buyer.locator("html").get_attribute("lang") == "zh-CN"
    assert buyer.get_by_test_id("amount-words").inner_text() == "人民币壹拾万零壹佰元伍角整"
    assert buyer.get_by_role("heading", name="选择付款银行").count() == 1
    shot(buyer, "30-zh-pay-order")
    buyer.get_by_role("button", name=re.compile("^下一步")).click()
    buyer.get_by_label("用户名").fill("buyer5")
    buyer.get_by_label("登录密码").fill(web.stack.passwords["buyer5"])
    buyer.get_by_role("button", name="登录").click()
    buyer.get_by_label(re.compile("动态口令")).fill(web.code("buyer5"))
    shot(buyer, "31-zh-pay-code")
    buyer.get_by_role("button", name=re.compile("确认支付")).click()
    assert "支付已提交" in buyer.get_by_test_id("started").inner_text()
    shot(buyer, "32-zh-started")
    web.wait_status(pid, "pending_review")

    reviewer = web.page(ZH)
    reviewer.goto(f"{web.url}/bank/login")
    reviewer.get_by_label("用户名").fill("checker1")
    reviewer.get_by_label("登录密码").fill(web.stack.passwords["checker1"])
    reviewer.get_by_role("button", name="登录").click()
    assert reviewer.get_by_role("heading", name="待复核支付").count() == 1
    shot(reviewer, "33-zh-worklist")
    reviewer.locator(f"tr[data-payment='{pid}']").get_by_role("link", name="复核").click()
    shot(reviewer, "34-zh-review")
    reviewer.get_by_role("button", name="复核通过").click()
    reviewer.get_by_test_id("notice").wait_for()
    web.wait_status(pid, "pending_auth")

    signer = web.page(ZH)
    signer.goto(f"{web.url}/bank/login")
    signer.get_by_label("用户名").fill("signer2")
    signer.get_by_label("登录密码").fill(web.stack.passwords["signer2"])
    signer.get_by_role("button", name="登录").click()
    signer.locator(f"tr[data-payment='{pid}']").get_by_role("link", name="授权").click()
    assert signer.get_by_test_id("amount-words").inner_text() == "人民币壹拾万零壹佰元伍角整"
    assert signer.get_by_test_id("payee").inner_text() == "广州五金贸易有限公司"
    shot(signer, "35-zh-authorize")
    signer.get_by_label(re.compile("动态口令")).fill(web.auth_code(pid, "signer2"))
    signer.get_by_label(re.compile("拒绝原因")).fill("金额超出本月预算")
    signer.get_by_role("button", name="拒绝").click()
    signer.get_by_test_id("notice").wait_for()
    web.wait_status(pid, "rejected")
    signer.reload()
    final = signer.get_by_test_id("final").inner_text()
    assert "已拒绝" in final and "金额超出本月预算" in final
    shot(signer, "36-zh-rejected")

    # The switch: the same page in English, and it stays English.
    signer.get_by_role("link", name="English").click()
    assert signer.locator("html").get_attribute("lang") == "en"
    assert "Rejected" in signer.get_by_test_id("final").inner_text()
    signer.goto(f"{web.url}/bank/worklist")
    assert signer.get_by_role("heading", name="Payments awaiting your authorization").count() == 1
    for page in (buyer, reviewer, signer):
        page.context.close()
