import FedSimulation
import FedTopology
import FedTransportZMQ
import Foundation

/// CURVE key files. `NAME.pub` holds the public key (one line of Z85); `NAME.key` (mode 0600)
/// holds `public <key>` and `secret <key>` lines. Both are text, so they can be checked,
/// copied and compared by eye.
public enum CurveKeyFile {
    /// Writes `directory/name.key` and `directory/name.pub` for `keys`; refuses to overwrite.
    public static func write(_ keys: CurveKeyPair, directory: URL, name: String) throws -> (key: URL, pub: URL) {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let key = directory.appendingPathComponent("\(name).key")
        let pub = directory.appendingPathComponent("\(name).pub")
        for url in [key, pub] where fm.fileExists(atPath: url.path) {
            throw RunInputError("\(url.path) already exists; FedSim never overwrites a key")
        }
        guard
            fm.createFile(
                atPath: key.path, contents: Data("public \(keys.publicKey)\nsecret \(keys.secretKey)\n".utf8),
                attributes: [.posixPermissions: 0o600])
        else { throw RunInputError("cannot write \(key.path)") }
        guard fm.createFile(atPath: pub.path, contents: Data("\(keys.publicKey)\n".utf8)) else {
            throw RunInputError("cannot write \(pub.path)")
        }
        return (key, pub)
    }

    /// A key pair from a `.key` file.
    public static func loadPair(_ path: String) throws -> CurveKeyPair {
        let lines = try text(path).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        func value(_ name: String) throws -> String {
            guard let line = lines.first(where: { $0.first == name }), line.count == 2, CurveKeyPair.isKey(line[1])
            else { throw RunInputError("\(path): no valid '\(name) <40-character Z85 key>' line (a .key file)") }
            return line[1]
        }
        return CurveKeyPair(publicKey: try value("public"), secretKey: try value("secret"))
    }

    /// A public key from a `.pub` file (or the public line of a `.key` file).
    public static func loadPublic(_ path: String) throws -> String {
        let text = try text(path)
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        if words.count == 1, CurveKeyPair.isKey(words[0]) { return words[0] }
        if let i = words.firstIndex(of: "public"), i + 1 < words.count, CurveKeyPair.isKey(words[i + 1]) {
            return words[i + 1]
        }
        throw RunInputError("\(path): not a public key file (one 40-character Z85 key)")
    }

    static func text(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunInputError("cannot read key file \(path)")
        }
        guard data.count < 4096, let text = String(data: data, encoding: .utf8) else {
            throw RunInputError("\(path) is not a key file")
        }
        return text
    }
}

/// The coordinator's allow-list: each client process's public key and the client ids it may
/// hold. One line per process, `<key or .pub file> <ids>` (ids as `0-49` or `0-9,20-29`), `#`
/// comments; a key may appear once.
public struct ClientKeyList: Sendable, Equatable {
    public let ranges: [String: [ClosedRange<Int>]]

    public init(ranges: [String: [ClosedRange<Int>]]) { self.ranges = ranges }

    public static func load(_ path: String, clientCount: Int) throws -> ClientKeyList {
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        var ranges: [String: [ClosedRange<Int>]] = [:]
        for (index, raw) in try CurveKeyFile.text(path).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let line = raw.prefix { $0 != "#" }.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            func fail(_ message: String) -> RunInputError { RunInputError("\(path):\(index + 1): \(message)") }
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard words.count == 2 else { throw fail("expected '<public key or .pub file> <client ids>'") }
            let key: String
            if CurveKeyPair.isKey(words[0]) {
                key = words[0]
            } else {
                let file = words[0].hasPrefix("/") ? words[0] : base.appendingPathComponent(words[0]).path
                do { key = try CurveKeyFile.loadPublic(file) } catch { throw fail("\(error)") }
            }
            guard let ids = parseClientRanges(words[1]) else {
                throw fail("'\(words[1])' is not a list of client ids such as 0-49 or 0-9,20-29")
            }
            if let bad = ids.first(where: { $0.upperBound >= clientCount }) {
                throw fail("ids \(bad.lowerBound)-\(bad.upperBound) are outside 0-\(clientCount - 1)")
            }
            guard ranges[key] == nil else { throw fail("key \(key) is listed twice") }
            ranges[key] = ids
        }
        guard !ranges.isEmpty else { throw RunInputError("\(path): lists no client keys") }
        return ClientKeyList(ranges: ranges)
    }

    /// Whether `key` may hold every id in `requested` (each requested range inside one of its ranges).
    public func allows(_ key: String, _ requested: [ClosedRange<Int>]) -> Bool {
        guard let allowed = ranges[key] else { return false }
        return requested.allSatisfy { r in allowed.contains { $0.contains(r.lowerBound) && $0.contains(r.upperBound) } }
    }
}

extension ClientHost {
    /// The CURVE keys a client process of `t` connecting to `endpoint` uses: the coordinator's
    /// public key (`cluster.curve.coordinator`) and its own pair from `keyFile`; nil when the
    /// run has no `cluster.curve`, which only loopback endpoints (or `cluster.insecure`) allow.
    public static func curve(
        for t: Topology, keyFile: String?, endpoint: String
    ) throws -> (
        serverKey: String, keys: CurveKeyPair
    )? {
        guard let curve = t.cluster.curve else {
            try refusePlaintextOffLoopback(t, endpoint: endpoint)
            return nil
        }
        guard let keyFile else {
            throw RunInputError("cluster.curve is set: give this client process's key with --key FILE")
        }
        return (try CurveKeyFile.loadPublic(curve.coordinatorKey), try CurveKeyFile.loadPair(keyFile))
    }
}

/// Plaintext is for this machine only: a run without `cluster.curve` may bind or connect to a
/// `tcp://` address other than loopback only when `cluster.insecure` says so.
public func refusePlaintextOffLoopback(_ t: Topology, endpoint: String) throws {
    guard ClusterSpec.isLocal(endpoint) || t.cluster.insecure else {
        throw RunInputError(
            "\(endpoint) is not a loopback address: set cluster.curve (keys from `fedsim keys generate`) to "
                + "encrypt and authenticate the run, or cluster.insecure: true to run it in the clear")
    }
}
