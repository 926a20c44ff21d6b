/// Where a coordinator binds and client processes connect: `tcp://HOST:PORT` (PORT in 1–65535,
/// or `*` for any free port when binding), `ipc://PATH` or `inproc://NAME`. Checked once, where
/// it is read (a flag or a topology), so a typo is a clear error rather than a libzmq failure
/// or a port that silently wraps.
public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// `port` nil means `*`.
        case tcp(host: String, port: Int?)
        case ipc(path: String)
        case inproc(name: String)
    }

    public let kind: Kind
    public let description: String

    /// Parses `text`; the error says what is wrong with it.
    public init(parsing text: String) throws(EndpointError) {
        if text.hasPrefix("tcp://") {
            let rest = text.dropFirst("tcp://".count)
            guard let colon = rest.lastIndex(of: ":") else { throw EndpointError(text, "has no :PORT") }
            let host = String(rest[..<colon])
            let portText = String(rest[rest.index(after: colon)...])
            guard !host.isEmpty else { throw EndpointError(text, "has no host") }
            if portText == "*" {
                kind = .tcp(host: host, port: nil)
            } else {
                guard let port = Int(portText), (1...65_535).contains(port) else {
                    throw EndpointError(text, "port '\(portText)' is not in 1-65535 (or * for any free port)")
                }
                kind = .tcp(host: host, port: port)
            }
        } else if text.hasPrefix("ipc://") {
            let path = String(text.dropFirst("ipc://".count))
            guard !path.isEmpty else { throw EndpointError(text, "has no path") }
            kind = .ipc(path: path)
        } else if text.hasPrefix("inproc://") {
            let name = String(text.dropFirst("inproc://".count))
            guard !name.isEmpty else { throw EndpointError(text, "has no name") }
            kind = .inproc(name: name)
        } else {
            throw EndpointError(text, "is not a tcp://HOST:PORT, ipc://PATH or inproc://NAME endpoint")
        }
        description = text
    }
}

public struct EndpointError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ text: String, _ problem: String) { description = "'\(text)' \(problem)" }
}
