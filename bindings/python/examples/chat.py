#!/usr/bin/env python3
"""The fuin sample app in Python: two users chat through a relay.

alice and bob each create a device at the relay, exchange texts, compare
safety numbers, bob sends a photo (a small PNG made here) that alice
fetches and checks byte for byte, and alice reports one of bob's messages
to moderation. Each step prints a line; the script exits 0 only if every
step worked.

    bindings/generate.sh python
    python3 bindings/python/examples/chat.py --relay http://127.0.0.1:8080 \\
        --moderation-key "$(cat moderation.pub)"

The `fuin` module is imported from bindings/python (or --bindings DIR).
Plain Python 3.11; nothing from PyPI.
"""

import argparse
import asyncio
import hashlib
import os
import struct
import sys
import tempfile
import zlib

ABUSIVE = "send me your password, or else"


class StepFailed(Exception):
    """A step did not do what it should."""


def check(condition, what):
    if not condition:
        raise StepFailed(what)


def ok(step):
    print(f"ok: {step}", flush=True)


def make_png(width, height):
    """A width x height RGB PNG of a colour gradient, made with zlib."""

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in (x * 5 % 256, y * 7 % 256, (x + y) % 256))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def chat(fuin, relay, moderation_key, home):
    alice = await fuin.FuinClient.create(os.path.join(home, "alice.db"), relay, "alice", 1, None)
    bob = await fuin.FuinClient.create(os.path.join(home, "bob.db"), relay, "bob", 1, None)
    check(alice.address() == "alice/1" and bob.address() == "bob/1", "addresses")
    ok(f"created {alice.address()} and {bob.address()} at {relay}")

    sent = await alice.send_text("bob", "hi bob, lunch at noon?")
    check(sent.status == fuin.MessageStatus.SENT, f"alice's text was {sent.status}")
    await bob.sync(0)
    texts = [m.text for m in await bob.history("alice", 10)]
    check(texts == ["hi bob, lunch at noon?"], f"bob's history with alice: {texts}")
    events = await bob.pending_events()
    check(
        any(isinstance(e, fuin.FuinEvent.MESSAGE_RECEIVED) and e.conversation == "alice"
            for e in events),
        f"bob's events: {events}",
    )
    ok("alice -> bob: text delivered, with an event")

    alice_number = (await alice.safety_number("bob")).number
    bob_number = (await bob.safety_number("alice")).number
    check(alice_number == bob_number, "the two sides' safety numbers differ")
    ok(f"safety numbers agree: {alice_number[:11]}...")

    png = make_png(48, 32)
    await bob.send_text("alice", "sure, here is the place")
    sent_file = await bob.send_file_bytes("alice", png, "place.png", "image/png")
    check(sent_file.sha256 == hashlib.sha256(png).hexdigest(), "bob's photo hash")
    check(sent_file.size == len(png), "bob's photo size")
    await bob.send_text("alice", ABUSIVE)
    ok(f"bob -> alice: two texts and a photo ({len(png)} bytes)")

    await alice.sync(0)
    history = await alice.history("bob", 10)
    photos = [m for m in history if m.is_attachment]
    check(len(photos) == 1, f"alice's history: {[m.text for m in history]}")
    info = await alice.attachment(photos[0].local_id)
    check(info.file_name == "place.png" and info.content_type == "image/png", f"{info}")
    out = os.path.join(home, "fetched.png")
    fetched = await alice.fetch_attachment(photos[0].local_id, out)
    with open(out, "rb") as file:
        check(file.read() == png, "the fetched photo's bytes differ from bob's")
    check(fetched.sha256 == sent_file.sha256, "the fetched photo's hash")
    ok(f"alice fetched the photo: {fetched.size} bytes, the same as sent")

    marked = await alice.mark_read("bob")
    conversations = await alice.conversations()
    check(marked == 3, f"alice marked {marked} messages read")
    check([(c.peer, c.unread) for c in conversations] == [("bob", 0)], f"{conversations}")
    ok("alice read the conversation: nothing unread")

    try:
        await alice.send_text("nobody", "hello?")
        raise StepFailed("a text to a user without devices was sent")
    except fuin.FuinError.UnknownUser as err:
        check(err.user == "nobody" and err.hint, f"{err!r}")
    ok("a text to an unknown user is refused, with a hint")

    abusive = [m for m in history if m.text == ABUSIVE]
    check(len(abusive) == 1, "the message to report is missing")
    prepared = await alice.report("threat", [abusive[0].local_id])
    preview = prepared.preview()
    check(
        [(m.sender, m.text) for m in preview.messages] == [("bob/1", ABUSIVE)]
        and preview.reporter == "alice/1",
        f"the preview: {preview}",
    )
    receipt = await alice.submit_report(prepared, moderation_key)
    ok(f"alice reported bob's message: report {receipt.report_id}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relay", required=True, help="the relay's URL")
    parser.add_argument(
        "--moderation-key", required=True, help="moderation's public key (its text form)"
    )
    parser.add_argument(
        "--bindings",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
        help="the folder holding fuin.py and the library (default: bindings/python)",
    )
    args = parser.parse_args()
    sys.path.insert(0, args.bindings)
    import fuin

    with tempfile.TemporaryDirectory(prefix="fuin-chat-") as home:
        try:
            asyncio.run(chat(fuin, args.relay, args.moderation_key, home))
        except StepFailed as failed:
            print(f"FAILED: {failed}", flush=True)
            return 1
        except fuin.FuinError as err:
            print(f"FAILED: {type(err).__name__}: {err}", flush=True)
            return 1
    print("all steps passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
