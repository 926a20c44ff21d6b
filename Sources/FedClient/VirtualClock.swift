import FedCore
import Foundation

/// A positive per-client quantity drawn once per client: `median · e^(σZ)` with Z standard normal
/// (a lognormal with that median; σ = 0 is the constant `median`).
public struct LogNormal: Sendable, Equatable, Codable {
    public var median: Double
    public var sigma: Double

    public init(median: Double, sigma: Double = 0) {
        self.median = median
        self.sigma = sigma
    }

    /// The value for the standard normal draw `z`.
    public func value(_ z: Double) -> Double { sigma == 0 ? median : median * exp(sigma * z) }
}

/// Measured devices, one row per client, overriding the clock's draws where a column is given
/// (`docs/TOPOLOGY.md`, section `clock`): compute speed, latency, bandwidths and the windows of
/// virtual time in which the client is online.
public struct ClockTrace: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        public var speed: Double?
        public var latency: Double?
        public var upload: Double?
        public var download: Double?
        /// Half-open windows [start, end) of virtual seconds in which the client is online; nil:
        /// the column is absent or empty for this client (the `availability` draw decides).
        public var online: [ClosedRange<Double>]?
        public init(
            speed: Double? = nil, latency: Double? = nil, upload: Double? = nil, download: Double? = nil,
            online: [ClosedRange<Double>]? = nil
        ) {
            self.speed = speed
            self.latency = latency
            self.upload = upload
            self.download = download
            self.online = online
        }
    }

    /// Row i is client i's.
    public var rows: [Row]
    /// FNV-1a 64 of the file's bytes: the trace's part of the run fingerprint.
    public var contentHash: UInt64

    public init(rows: [Row], contentHash: UInt64) {
        self.rows = rows
        self.contentHash = contentHash
    }
}

/// What one client is, in the virtual clock: how fast it computes and how its link carries bytes.
public struct ClientProfile: Sendable, Equatable {
    /// Compute speed (1 is the reference device of `secondsPerSample`).
    public var speed: Double
    /// Seconds added to each message (one down, one up).
    public var latency: Double
    /// Bytes per second up and down; nil: transfers take no time.
    public var upload: Double?
    public var download: Double?
}

/// How a client's round goes in virtual time: how many local steps it trains, when its update
/// reaches the server, and whether it made the deadline with all its work.
public struct ClientTiming: Sendable, Equatable {
    /// Local steps trained (the full work, or the part that fits before the deadline).
    public var steps: Int
    /// Virtual seconds from the round's start until the update has arrived.
    public var finish: Double
    /// Whether the client trained its full local work.
    public var complete: Bool
    /// Whether the update counts: false when the client misses the deadline under `drop`, or
    /// when not one step fits before it under `partial`.
    public var arrives: Bool
}

/// Systems heterogeneity in virtual time, after FedScale: every client has a compute speed and a
/// link (latency, upload and download bandwidth) drawn once from the train seed (or read from a
/// trace), is online in a round with probability `availability` (or inside its trace windows),
/// and finishes a task after `latency + down/download + samples·secondsPerSample/speed + latency +
/// up/upload` virtual seconds. A round ends when the cohort's updates are in or at `deadline`;
/// late clients are dropped or send the steps that fit (`late`); `overcommit` samples more
/// clients than `clients.per_round` and keeps the first to finish.
///
/// Every quantity is a pure function of (train seed, client, round, payload sizes), so the
/// coordinator and every client process agree without a message: in-process and cluster runs
/// give the same numbers. Nothing here measures real time.
public struct VirtualClock: Sendable, Equatable {
    public enum LatePolicy: String, Sendable, Equatable, CaseIterable {
        /// A client that would miss the deadline is left out (FedAvg's rule).
        case drop
        /// A client that would miss the deadline trains the steps that fit and sends them (FedProx's rule).
        case partial
    }

    /// Virtual seconds one training sample (forward and backward) takes at speed 1.
    public var secondsPerSample: Double = 0
    public var speed = LogNormal(median: 1)
    public var latency = LogNormal(median: 0)
    /// Bytes per second; nil: transfers are instant.
    public var upload: LogNormal?
    public var download: LogNormal?
    /// The probability that a client is online in a round (clients with trace windows follow them).
    public var availability: Double = 1
    /// Sample the round's cohort among the clients online at its start (availability-aware
    /// sampling); otherwise an offline client that is sampled never answers.
    public var sampleOnline = false
    /// Virtual seconds the server waits for a round's updates (nil: for all of them).
    public var deadline: Double?
    public var late = LatePolicy.drop
    /// Sample ⌈overcommit · per_round⌉ clients and keep the first per_round updates (FedScale's 1.3).
    public var overcommit: Double = 1
    public var trace: ClockTrace?
    /// Where the trace was read from (written back into `topology.yaml`; not part of the numbers).
    public var tracePath: String?

    public init() {}

    /// Client `client`'s device, drawn from `seed` (the train seed) unless its trace row says.
    public func profile(seed: UInt64, client: Int) -> ClientProfile {
        var rng = SeededRandom(seed: seed).derive(SeedStream.clock.rawValue, 0, UInt64(client))
        let z = (rng.nextNormal(), rng.nextNormal(), rng.nextNormal(), rng.nextNormal())
        let row = trace.flatMap { client < $0.rows.count ? $0.rows[client] : nil }
        return ClientProfile(
            speed: row?.speed ?? speed.value(z.0), latency: row?.latency ?? latency.value(z.1),
            upload: row?.upload ?? upload?.value(z.2), download: row?.download ?? download?.value(z.3))
    }

    /// Whether `client` is online for round `round`, which starts at virtual time `start`.
    public func isOnline(seed: UInt64, round: Int, client: Int, start: Double) -> Bool {
        if let windows = trace.flatMap({ client < $0.rows.count ? $0.rows[client].online : nil }) {
            return windows.contains { start >= $0.lowerBound && start < $0.upperBound }
        }
        guard availability < 1 else { return true }
        var rng = SeededRandom(seed: seed).derive(SeedStream.clock.rawValue, 1, UInt64(round), UInt64(client))
        return rng.nextUniform() < availability
    }

    /// Whether anything can make a client offline (a draw below 1, or trace windows).
    public var hasAvailability: Bool {
        availability < 1 || (trace?.rows.contains { $0.online != nil } ?? false)
    }

    /// How client `client` (with `samples` training samples) does in a round whose task moves
    /// `downBytes` to it and `upBytes` back.
    public func timing(
        seed: UInt64, client: Int, samples: Int, training: LocalTraining, downBytes: Int, upBytes: Int
    ) -> ClientTiming {
        let device = profile(seed: seed, client: client)
        let batch = training.batchSize == 0 ? samples : min(training.batchSize, samples)
        let perEpoch = batch > 0 ? (samples + batch - 1) / batch : 0
        let total: Int =
            switch training.length {
            case .epochs(let e): e * perEpoch
            case .steps(let k): k
            }
        let transfer =
            2 * device.latency + (device.download.map { Double(downBytes) / $0 } ?? 0)
            + (device.upload.map { Double(upBytes) / $0 } ?? 0)
        // The samples the first k steps process: whole epochs, then k mod (steps per epoch) full batches.
        func finish(_ k: Int) -> Double {
            let processed = perEpoch > 0 ? (k / perEpoch) * samples + (k % perEpoch) * batch : 0
            return transfer + Double(processed) * secondsPerSample / device.speed
        }
        let full = finish(total)
        guard let deadline, full > deadline else {
            return ClientTiming(steps: total, finish: full, complete: true, arrives: true)
        }
        guard late == .partial else { return ClientTiming(steps: total, finish: full, complete: false, arrives: false) }
        var low = 0  // finish(low) ≤ deadline or low = 0
        var high = total  // finish(high) > deadline
        while high - low > 1 {
            let mid = (low + high) / 2
            if finish(mid) <= deadline { low = mid } else { high = mid }
        }
        return ClientTiming(steps: low, finish: finish(low), complete: false, arrives: low > 0)
    }
}
