"""The run form: every parameter type (a file upload included), a field error from the
server, JSON checked as it is typed, the curl command, and editing a script's source."""
import json

from harness import wait_until

PHOTO = b"\x89PNG\r\n\x1a\n" + b"\x00" * 120


def open_script(s, path):
    s.sign_in(f"/scripts/{s.script_id(path)}")
    s.page.wait_for_selector("#run-form")


def field(page, name, control="input, select, textarea"):
    return page.locator(f"[data-param='{name}']").locator(control).first


def test_form_has_a_control_per_type_with_defaults_and_marks(session):
    s = session()
    open_script(s, "python/every_type.py")
    page = s.page
    expected = {"name": "text", "times": "number", "ratio": "number", "loud": "checkbox",
                "site": "url", "photo": "file"}
    for name, kind in expected.items():
        assert field(page, name, "input").get_attribute("type") == kind, name
    assert field(page, "format", "select").count() == 1
    assert field(page, "options", "textarea").count() == 1
    assert field(page, "times", "input").input_value() == "2", "defaults are filled in"
    assert "*" in page.inner_text("[data-param='name'] label"), "required is marked"
    assert "Who to greet" in page.inner_text("[data-param='name']"), "help is shown"


def test_a_server_field_error_is_shown_beside_its_field(session):
    s = session()
    open_script(s, "python/every_type.py")
    page = s.page
    field(page, "site", "input").fill("ftp://example.com/x")
    page.click("#run")
    name_error = page.locator("[data-param='name'] .field-error")
    wait_until(lambda: "required" in name_error.inner_text(), "the error under name")
    assert page.locator("[data-param='site'] .field-error").inner_text().strip(), "the url error"
    assert page.locator("[data-param='times'] .field-error").inner_text() == ""
    assert page.evaluate("document.activeElement.id") == field(page, "name", "input").get_attribute("id")


def test_every_type_reaches_the_script_with_a_file_as_multipart(session):
    s = session()
    open_script(s, "python/every_type.py")
    page = s.page
    field(page, "name", "input").fill("Ada")
    field(page, "times", "input").fill("3")
    field(page, "ratio", "input").fill("1.5")
    field(page, "loud", "input").check()
    field(page, "format", "select").select_option(label="csv")
    options = field(page, "options", "textarea")
    options.fill('{"a": ')
    wait_until(lambda: "✗" in page.inner_text("[data-param='options'] .json-state"), "JSON checked while typing")
    options.fill('{"a": [1, 2]}')
    wait_until(lambda: "valid JSON" in page.inner_text("[data-param='options'] .json-state"), "valid JSON")
    field(page, "site", "input").fill("https://example.com/page")
    field(page, "photo", "input").set_input_files(files=[{"name": "pic.png", "mimeType": "image/png", "buffer": PHOTO}])
    page.click("summary:has-text('curl')")
    curl = page.inner_text("pre.curl")
    assert "-F" in curl and "photo=@pic.png" in curl and "X-API-Key" in curl, curl
    page.click("#run")
    page.wait_for_selector(".result")
    run_id = int(page.locator(".outcome a").first.inner_text().strip("run #"))
    got = s.api("GET", f"/api/runs/{run_id}")["data"]["got"]
    assert got["name"] == "Ada" and got["times"] == "3" and got["ratio"] == "1.5", got
    assert got["loud"] == "1" and got["format"] == "csv" and json.loads(got["options"]) == {"a": [1, 2]}, got
    assert got["site"] == "https://example.com/page" and got["photo"]["bytes"] == len(PHOTO), got
    assert "Ada" in page.inner_text(".result"), "the data is shown"


def test_editing_the_source_shows_the_new_form_or_the_load_error(session):
    s = session()
    open_script(s, "python/editable.py")
    page = s.page
    assert page.locator("[data-param='second']").count() == 0
    page.click("#source summary")
    page.wait_for_selector("#source-text")
    source = page.input_value("#source-text")
    added = source.replace('ARGS_MAP = {', 'ARGS_MAP = {"second": {"flag": "--second", "type": "int", "help": "Added in the UI"}, ')
    page.fill("#source-text", added)
    page.click("#save-source")
    page.wait_for_selector("[data-param='second'] input[type=number]")
    assert "Added in the UI" in page.inner_text("#run-form")
    page.click("#source summary")
    page.wait_for_selector("#source-text")
    page.fill("#source-text", source.replace("print(json.dumps(ARGS_MAP))", "print('no json')"))
    page.click("#save-source")
    page.wait_for_selector("#source pre.error")
    assert "not valid JSON" in page.inner_text("#source")
    page.fill("#source-text", source)
    page.click("#save-source")
    page.wait_for_selector("[data-param='first']")


def test_script_settings_save_and_delete_asks_first(session):
    s = session()
    open_script(s, "python/made_in_ui.py")
    page = s.page
    page.fill("#set-alias", "Made here")
    page.fill("#set-timeout", "30")
    page.click("#script-settings button[type=submit]")
    page.wait_for_selector("h1:has-text('Made here')")
    script = s.api("GET", f"/api/scripts/{s.script_id('python/made_in_ui.py')}")
    assert script["alias"] == "Made here" and script["timeout_sec"] == 30, script
    page.click(".danger-zone button:has-text('Delete')")
    page.click("text=Yes, delete")
    page.wait_for_selector("#script-rows")
    assert all(i["path"] != "python/made_in_ui.py" for i in s.api("GET", "/api/scripts?page_size=500")["items"])
