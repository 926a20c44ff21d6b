import FedClient
import FedCoordinator
import FedOptim
import FedProtocol
import FedWire
import Foundation
import Synchronization

/// The *persist* clients' optimizer states of a run in one file of fixed-size slots
/// (`client-state/states.bin`), addressed by client id and written in place: a client not in
/// the cohort costs its slot on disk and nothing in memory, and a round costs one `fsync`, not
/// one file per client.
///
/// Layout (little-endian): a 4,096-byte header — `FSCS`, u32 version 1, u64 fingerprint, u64
/// first client id, u64 client count, u64 half size H, then the u64 run id the states belong
/// to (a client process's; 0 in `fedsim run`) — then one slot of 8 + 2H bytes per client. A slot is a u64
/// control word and two halves; a half is a u32 header length, the state's
/// `OptimizerStateCoding` header and its Float32 data. The control word is 0 for a client that
/// never trained, else `(last round + 1) << 2 | current half << 1 | has before`; the other half
/// holds the state the last round was trained from. A new round's state goes into the other
/// half and only then does the control word flip (one aligned 8-byte write), so a process killed
/// mid-write leaves the previous state whole. Durability against a machine crash comes from the
/// `fsync` before each round's checkpoint (`ClientStateRecorder`).
///
/// Positional reads and writes (`pread`/`pwrite`) rather than a memory map: the states stay in
/// the page cache, which the kernel evicts as it needs, and out of the process's resident set.
public final class ClientStateFile: ClientStateStore, @unchecked Sendable {
    // @unchecked Sendable: the file descriptor is only used with positional I/O at each
    // client's own slot, and one client never trains on two threads at once, so no two threads
    // touch one slot; the shared mutable values, `failure` and `syncs`, are a Mutex and an Atomic.
    public let url: URL
    /// The slots hold clients `firstClient ..< firstClient + clients`.
    public let firstClient: Int
    public let clients: Int
    let halfBytes: Int
    private let fd: Int32
    private let failure = Mutex<String?>(nil)
    private let syncs = Atomic<Int>(0)
    static let headerBytes = 4096
    static let magic = Array("FSCS".utf8)

    var slotBytes: Int { 8 + 2 * halfBytes }

    /// The half size that holds any of `templates`' states.
    public static func halfBytes(for templates: [OptimizerState]) -> Int {
        templates.map { 4 + OptimizerStateCoding.header($0).count + 4 * OptimizerStateCoding.data($0).count }.max() ?? 4
    }

    /// Opens the run's state file, creating it (sparse, every slot empty) when it does not
    /// exist; an existing file must be this run's (fingerprint, clients, slot size).
    public init(url: URL, fingerprint: UInt64, firstClient: Int = 0, clients: Int, halfBytes: Int) throws {
        self.url = url
        self.firstClient = firstClient
        self.clients = clients
        self.halfBytes = halfBytes
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let exists = FileManager.default.fileExists(atPath: url.path)
        fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunInputError("cannot open \(url.path): \(String(cString: strerror(errno)))") }
        var header = ByteWriter()
        header.bytes(Self.magic)
        header.u32(1)
        header.u64(fingerprint)
        header.u64(UInt64(firstClient))
        header.u64(UInt64(clients))
        header.u64(UInt64(halfBytes))
        if exists {
            var existing = [UInt8](repeating: 0, count: header.data.count)
            let got = existing.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            guard got == existing.count, existing == header.data else {
                close(fd)
                throw RunInputError(
                    "\(url.path) holds the client states of another run (or is damaged); delete it to start the "
                        + "clients afresh")
            }
        } else {
            let size = Self.headerBytes + clients * (8 + 2 * halfBytes)
            let written = header.data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            guard written == header.data.count, ftruncate(fd, off_t(size)) == 0 else {
                let why = String(cString: strerror(errno))
                close(fd)
                try? FileManager.default.removeItem(at: url)
                throw RunInputError("cannot create \(url.path) (\(size) bytes): \(why)")
            }
        }
    }

    deinit { close(fd) }

    private func offset(_ client: Int) -> off_t { off_t(Self.headerBytes + (client - firstClient) * slotBytes) }

    /// Where the run id sits in the header.
    private var runIDOffset: off_t { off_t(Self.magic.count + 4 + 4 * 8) }

    /// Makes the file hold run `runID`'s states: kept when they are that run's, every slot
    /// emptied when they are an earlier run's (a new run of the same topology starts its clients
    /// afresh). Returns how many clients have a state.
    public func adopt(runID: UInt64) throws -> Int {
        var stored: UInt64 = 0
        let got = withUnsafeMutableBytes(of: &stored) { pread(fd, $0.baseAddress, 8, runIDOffset) }
        guard got == 8 else { throw RunInputError("cannot read \(url.path): \(String(cString: strerror(errno)))") }
        if UInt64(littleEndian: stored) != runID {
            let size = off_t(Self.headerBytes + clients * slotBytes)
            guard ftruncate(fd, off_t(Self.headerBytes)) == 0, ftruncate(fd, size) == 0 else {
                throw RunInputError("cannot clear \(url.path): \(String(cString: strerror(errno)))")
            }
            var le = runID.littleEndian
            let put = withUnsafeBytes(of: &le) { pwrite(fd, $0.baseAddress, 8, runIDOffset) }
            guard put == 8, fsync(fd) == 0 else {
                throw RunInputError("cannot write \(url.path): \(String(cString: strerror(errno)))")
            }
            return 0
        }
        var count = 0
        for client in firstClient..<(firstClient + clients) where (readControl(client) ?? 0) != 0 { count += 1 }
        return count
    }

    private func fail(_ what: String) {
        failure.withLock { if $0 == nil { $0 = what } }
    }

    private func readControl(_ client: Int) -> UInt64? {
        var word: UInt64 = 0
        let got = withUnsafeMutableBytes(of: &word) { pread(fd, $0.baseAddress, 8, offset(client)) }
        guard got == 8 else {
            fail("cannot read \(url.path) (client \(client)): \(String(cString: strerror(errno)))")
            return nil
        }
        return UInt64(littleEndian: word)
    }

    private func writeControl(_ client: Int, _ word: UInt64) {
        var le = word.littleEndian
        let put = withUnsafeBytes(of: &le) { pwrite(fd, $0.baseAddress, 8, offset(client)) }
        if put != 8 { fail("cannot write \(url.path) (client \(client)): \(String(cString: strerror(errno)))") }
    }

    private func writeHalf(_ client: Int, _ half: Int, _ state: OptimizerState) {
        let header = OptimizerStateCoding.header(state)
        var bytes = ByteWriter()
        bytes.u32(UInt32(header.count))
        bytes.bytes(header)
        for t in state.transforms { t.storage.withUnsafeBytes { bytes.data.append(contentsOf: $0) } }
        guard bytes.data.count <= halfBytes else {
            fail("client \(client)'s state (\(bytes.data.count) bytes) does not fit \(url.path)'s slots")
            return
        }
        let at = offset(client) + off_t(8 + half * halfBytes)
        let put = bytes.data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, at) }
        if put != bytes.data.count {
            fail("cannot write \(url.path) (client \(client)): \(String(cString: strerror(errno)))")
        }
    }

    private func readHalf(_ client: Int, _ half: Int, template: OptimizerState) -> OptimizerState? {
        var bytes = [UInt8](repeating: 0, count: halfBytes)
        let at = offset(client) + off_t(8 + half * halfBytes)
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, at) }
        guard got == halfBytes else {
            fail("cannot read \(url.path) (client \(client)): \(String(cString: strerror(errno)))")
            return nil
        }
        let headerLength = Int(
            UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
        let dataLength = 4 * OptimizerStateCoding.data(template).count
        guard headerLength <= halfBytes - 4 - dataLength else {
            fail("\(url.path) is damaged (client \(client)'s state header)")
            return nil
        }
        do {
            return try OptimizerStateCoding.decode(
                header: Array(bytes[4..<(4 + headerLength)]),
                data: Array(bytes[(4 + headerLength)..<(4 + headerLength + dataLength)]), template: template,
                requireFinite: false)
        } catch {
            fail("\(url.path) is damaged (client \(client)): \(error)")
            return nil
        }
    }

    private func holds(_ client: Int) -> Bool { client >= firstClient && client < firstClient + clients }

    public func load(client: Int, template: OptimizerState) -> ClientSnapshot? {
        guard holds(client), let word = readControl(client), word != 0 else { return nil }
        let current = Int((word >> 1) & 1)
        let state = readHalf(client, current, template: template)
        let before = word & 1 == 1 ? readHalf(client, 1 - current, template: template) : nil
        return ClientSnapshot(client: client, state: state, lastRound: Int(word >> 2) - 1, stateBeforeLastRound: before)
    }

    public func advance(client: Int, state: OptimizerState, round: Int) {
        guard holds(client), let word = readControl(client) else { return }
        if word == 0 {
            writeHalf(client, 0, state)
            writeControl(client, UInt64(round + 1) << 2)
            return
        }
        let current = (word >> 1) & 1
        if Int(word >> 2) - 1 >= round {
            // A retried round: the state it was trained from stays; the current one is replaced.
            writeHalf(client, Int(current), state)
            writeControl(client, UInt64(round + 1) << 2 | current << 1 | (word & 1))
        } else {
            // The next round: the current state becomes the one it was trained from.
            writeHalf(client, Int(1 - current), state)
            writeControl(client, UInt64(round + 1) << 2 | (1 - current) << 1 | 1)
        }
    }

    public func replace(_ snapshot: ClientSnapshot) {
        let client = snapshot.client
        guard holds(client) else { return }
        guard let state = snapshot.state, let round = snapshot.lastRound else {
            writeControl(client, 0)
            return
        }
        if let before = snapshot.stateBeforeLastRound { writeHalf(client, 0, before) }
        writeHalf(client, 1, state)
        writeControl(client, UInt64(round + 1) << 2 | 1 << 1 | (snapshot.stateBeforeLastRound == nil ? 0 : 1))
    }

    /// Flushes every write to the disk and reports the first error since the last call.
    public func sync() throws {
        if let error = failure.withLock({ e -> String? in
            defer { e = nil }
            return e
        }) {
            throw RunInputError(error)
        }
        guard fsync(fd) == 0 else {
            throw RunInputError("cannot write \(url.path) to disk: \(String(cString: strerror(errno)))")
        }
        syncs.add(1, ordering: .relaxed)
    }

    /// How many times `sync()` flushed the file (a client process should flush once per batch
    /// of updates, not once per update).
    public var syncCount: Int { syncs.load(ordering: .relaxed) }
}

/// Flushes the client-state file before each round's checkpoint, which relies on it.
public final class ClientStateRecorder: RunObserver {
    private let file: ClientStateFile
    public init(_ file: ClientStateFile) { self.file = file }
    public func runStarted(from record: RoundRecord, resumed: Bool, engine: RoundEngine) throws { try file.sync() }
    public func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws { try file.sync() }
}
