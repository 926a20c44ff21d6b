"""A FedSim client process in Python: one DEALER socket to the coordinator, the conversation of
docs/PROTOCOL.md (HELLO, WELCOME, TASK → UPDATE, HEARTBEAT, ERROR, SHUTDOWN), training on a
worker thread so heartbeats keep flowing while a long task trains."""

import json
import os
import queue
import threading
import time

import numpy as np
import zmq

from . import protocol as p


class Update:
    """What a trainer returns for one task: Δ = w_local − w_global (float32, the layout's order),
    the samples trained on (the shard's size: the coordinator checks it), the local steps, and
    the mean training loss."""

    def __init__(self, delta, samples, steps, loss, effective_decay=None):
        self.delta = np.ascontiguousarray(delta, dtype=np.float32)
        self.samples = int(samples)
        self.steps = int(steps)
        self.loss = float(loss)
        self.effective_decay = effective_decay


class Trainer:
    """Trains one client from the global weights: `train(client, round, weights) -> Update`."""

    def train(self, client, round_, weights):
        raise NotImplementedError


class Client:
    """Hosts the federation's exported clients for one coordinator run until it ends the run."""

    def __init__(self, federation, endpoint, trainer, log=print, record=None, curve=None):
        self.federation = federation
        self.endpoint = endpoint
        self.trainer = trainer
        self.log = log
        self.record = record
        self.curve = curve  # (server_public, public, secret) Z85 keys, or None
        self.fingerprint = federation.fingerprint
        self.context = zmq.Context.instance()
        self.tasks = queue.Queue()
        self.results = queue.Queue()
        self.pending = 0
        if record:
            os.makedirs(record, exist_ok=True)

    # --- the socket -------------------------------------------------------------------------

    def _connect(self):
        s = self.context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 1000)
        s.setsockopt(zmq.MAXMSGSIZE, 16 * self.federation.parameter_count + 65536)
        if self.curve:
            server, public, secret = self.curve
            s.curve_serverkey, s.curve_publickey, s.curve_secretkey = server, public, secret
        s.connect(self.endpoint)
        return s

    def _send(self, frames):
        self.socket.send_multipart(frames, copy=False)
        self.last_sent = time.monotonic()

    def _hello(self):
        self._send(p.hello(self.fingerprint, self.federation.ranges()))

    # --- the worker -------------------------------------------------------------------------

    def _work(self):
        while True:
            task = self.tasks.get()
            if task is None:
                return
            try:
                client = self.federation.clients[task.client]
                update = self.trainer.train(client, task.round, task.weights)
                if update.delta.shape != (self.federation.parameter_count,):
                    raise ValueError(f"the trainer's delta has shape {update.delta.shape}, "
                                     f"expected ({self.federation.parameter_count},)")
                self.results.put((task, update, None))
            except Exception as e:  # reported by the main loop, which ends the process
                self.results.put((task, None, e))

    def _record(self, task, update):
        if not self.record:
            return
        stem = f"r{task.round}-c{task.client}"
        task.weights.astype("<f4").tofile(os.path.join(self.record, f"weights-{stem}.f32"))
        update.delta.astype("<f4").tofile(os.path.join(self.record, f"delta-{stem}.f32"))
        with open(os.path.join(self.record, "updates.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"round": task.round, "client": task.client, "samples": update.samples,
                                "steps": update.steps, "loss": update.loss,
                                "delta": f"delta-{stem}.f32", "weights": f"weights-{stem}.f32"}) + "\n")

    # --- the conversation -------------------------------------------------------------------

    def run(self):
        """Returns the exit status: 0 when the coordinator ended the run, 2 when it refused us."""
        f = self.federation
        interval = f.heartbeat_interval
        worker = threading.Thread(target=self._work, daemon=True)
        worker.start()
        self.socket = self._connect()
        self._hello()
        last_heard = time.monotonic()
        backoff = 1.0
        hello_again_at = None
        try:
            while True:
                # Updates finished by the worker leave first.
                while True:
                    try:
                        task, update, failure = self.results.get_nowait()
                    except queue.Empty:
                        break
                    self.pending -= 1
                    if failure is not None:
                        raise failure
                    self._record(task, update)
                    self._send(p.update(self.fingerprint, task.round, task.client, update.samples, update.steps,
                                        update.loss, update.delta, update.effective_decay))
                now = time.monotonic()
                if hello_again_at is not None and now >= hello_again_at:
                    hello_again_at = None
                    self._hello()
                if now - self.last_sent >= interval:
                    self._send(p.heartbeat(self.fingerprint))
                if now - last_heard > f.liveness * interval:
                    self.log(f"heard nothing from the coordinator for {now - last_heard:.1f} s; reconnecting "
                             f"in {backoff:.0f} s")
                    self.socket.close(linger=0)
                    time.sleep(backoff)
                    backoff = min(32.0, 2 * backoff)
                    self.socket = self._connect()
                    self._hello()
                    last_heard = time.monotonic()
                    continue
                timeout = 0.01 if self.pending else interval / 2
                if not self.socket.poll(int(timeout * 1000)):
                    continue
                frames = self.socket.recv_multipart()
                last_heard = time.monotonic()
                backoff = 1.0
                try:
                    m = p.decode(frames, f.parameter_count)
                except p.ProtocolError as e:
                    self.log(f"ignored a message from the coordinator: {e}")
                    continue
                if m.kind != p.ERROR and m.fingerprint != self.fingerprint:
                    self.log(f"ignored a {p.KIND_NAMES[m.kind]} of another run ({m.fingerprint:016x})")
                    continue
                if m.kind == p.WELCOME:
                    ids = ",".join(f"{a}-{b}" if a != b else f"{a}" for a, b in f.ranges())
                    self.log(f"joined the coordinator as clients {ids}; run {m.run_id:016x}, "
                             f"{m.rounds_completed} round(s) done")
                elif m.kind == p.TASK:
                    if m.client not in f.clients:
                        self._send(p.error(self.fingerprint, p.NOT_HOSTED, f"client {m.client} is not hosted here"))
                    elif m.has_state:
                        raise RuntimeError("a TASK with an optimizer state (state: aggregate) is not supported by "
                                           "this client")
                    else:
                        self.pending += 1
                        self.tasks.put(m)
                elif m.kind == p.ERROR:
                    if m.code == p.UNKNOWN_PEER:
                        self._hello()
                    elif m.code == p.IDS_HELD:
                        hello_again_at = time.monotonic() + interval
                    elif m.code in (p.WRONG_FINGERPRINT, p.WRONG_VERSION, p.IDS_OUT_OF_RANGE, p.KEY_MAY_NOT_HOLD):
                        self.log(f"the coordinator refused this client: {m.text}")
                        return 2
                    else:
                        self.log(f"the coordinator reported: {m.text}")
                elif m.kind == p.SHUTDOWN:
                    self.log("the coordinator ended the run; leaving")
                    return 0
        finally:
            # The worker ends before the interpreter does (a daemon thread inside torch at exit aborts it).
            self.tasks.put(None)
            worker.join(timeout=60)
            self.socket.close(linger=1000)
