"""8.4 m) Speak a prompt, slowly for elderly users, and stop (语音提示, 7.2 e)."""

from _common import connect

with connect() as c:
    u = c.voice.speak(text="请放置证件", elderly=True, wait=True, timeout=30)
    print("spoke", repr(u.text), "for", u.duration_ms, "ms")
    c.voice.speak(text="欢迎使用政务服务自助终端，请选择您要办理的业务")
    c.voice.stop()
