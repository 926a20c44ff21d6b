"""FedSim's wire protocol, version 1 (docs/PROTOCOL.md): every message is a multipart ZeroMQ
message whose frame 0 is a header — magic `FSIM`, u16 version, u8 kind, u8 0, u64 run
fingerprint — followed by the kind's fixed body; parameter payloads are raw little-endian
float32 frames. All integers and floats are little-endian."""

import struct

import numpy as np

MAGIC = b"FSIM"
VERSION = 1
HELLO, WELCOME, TASK, UPDATE, HEARTBEAT, ERROR, SHUTDOWN = range(1, 8)
KIND_NAMES = {HELLO: "HELLO", WELCOME: "WELCOME", TASK: "TASK", UPDATE: "UPDATE", HEARTBEAT: "HEARTBEAT",
              ERROR: "ERROR", SHUTDOWN: "SHUTDOWN"}
HEADER = struct.Struct("<4sHBBQ")  # 16 bytes
MAX_ERROR_TEXT = 1024

# ERROR codes (ProtocolErrorCode in FedWire).
UNKNOWN_PEER, WRONG_FINGERPRINT, WRONG_VERSION, IDS_OUT_OF_RANGE, NOT_HOSTED, IDS_HELD, KEY_MAY_NOT_HOLD = range(1, 8)


class ProtocolError(Exception):
    """A message that breaks the protocol; the text says how."""


def header(kind, fingerprint):
    return HEADER.pack(MAGIC, VERSION, kind, 0, fingerprint)


def hello(fingerprint, ranges):
    if not 1 <= len(ranges) <= 4096:
        raise ValueError("HELLO carries 1 to 4096 ranges")
    body = struct.pack("<I", len(ranges)) + b"".join(struct.pack("<II", a, b) for a, b in ranges)
    return [header(HELLO, fingerprint) + body]


def heartbeat(fingerprint):
    return [header(HEARTBEAT, fingerprint)]


def error(fingerprint, code, text):
    data = text.encode("utf-8")[:MAX_ERROR_TEXT]
    return [header(ERROR, fingerprint) + struct.pack("<H", code) + data]


def update(fingerprint, round_, client, samples, steps, loss, delta, effective_decay=None):
    """An UPDATE: the body, then the delta Δ = w_local − w_global as one float32 frame."""
    body = struct.pack("<IIIIdBBHf", round_, client, samples, steps, float(loss), 0,
                       0 if effective_decay is None else 1, 0,
                       0.0 if effective_decay is None else float(effective_decay))
    delta = np.ascontiguousarray(delta, dtype="<f4")
    return [header(UPDATE, fingerprint) + body, delta.tobytes()]


class Message:
    """A decoded message: `kind`, `fingerprint`, and the kind's fields."""

    def __init__(self, kind, fingerprint, **fields):
        self.kind = kind
        self.fingerprint = fingerprint
        self.__dict__.update(fields)

    def __repr__(self):
        return f"<{KIND_NAMES.get(self.kind, self.kind)} {self.__dict__}>"


def decode(frames, parameter_count):
    """Decodes a coordinator's message, checking every length (ProtocolError otherwise)."""
    if not frames or len(frames[0]) < HEADER.size:
        raise ProtocolError("fewer than 16 header bytes")
    head = frames[0]
    magic, version, kind, _, fingerprint = HEADER.unpack_from(head)
    if magic != MAGIC:
        raise ProtocolError("wrong magic")
    if version != VERSION:
        raise ProtocolError(f"protocol version {version}, this client speaks {VERSION}")
    body = head[HEADER.size:]

    def exact(length, frame_count=1):
        if len(body) != length:
            raise ProtocolError(f"{KIND_NAMES.get(kind, kind)} header of {16 + len(body)} bytes, expected {16 + length}")
        if len(frames) != frame_count:
            raise ProtocolError(f"{KIND_NAMES.get(kind, kind)} with {len(frames)} frames, expected {frame_count}")

    if kind == WELCOME:
        exact(12)
        rounds, run_id = struct.unpack("<IQ", body)
        return Message(kind, fingerprint, rounds_completed=rounds, run_id=run_id)
    if kind == TASK:
        if len(body) != 12:
            raise ProtocolError(f"TASK header of {16 + len(body)} bytes, expected 28")
        round_, client, has_state = struct.unpack_from("<IIB", body)
        if has_state > 1:
            raise ProtocolError("TASK has_state must be 0 or 1")
        exact(12, 2 + (2 if has_state else 0))
        if len(frames[1]) != 4 * parameter_count:
            raise ProtocolError(f"TASK weights of {len(frames[1])} bytes, expected {4 * parameter_count}")
        weights = np.frombuffer(frames[1], dtype="<f4").astype(np.float32)
        if not np.all(np.isfinite(weights)):
            raise ProtocolError("TASK weights hold NaN or infinity")
        return Message(kind, fingerprint, round=round_, client=client, has_state=bool(has_state), weights=weights)
    if kind == HEARTBEAT:
        exact(0)
        return Message(kind, fingerprint)
    if kind == SHUTDOWN:
        exact(0)
        return Message(kind, fingerprint)
    if kind == ERROR:
        if len(body) < 2 or len(body) > 2 + MAX_ERROR_TEXT or len(frames) != 1:
            raise ProtocolError("ERROR of the wrong length")
        (code,) = struct.unpack_from("<H", body)
        return Message(kind, fingerprint, code=code, text=body[2:].decode("utf-8", errors="replace"))
    if kind in (HELLO, UPDATE):
        raise ProtocolError(f"{KIND_NAMES[kind]} is sent by clients, not by a coordinator")
    raise ProtocolError(f"unknown kind {kind}")
