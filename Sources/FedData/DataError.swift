/// A problem with input data, located as precisely as we can (file and 1-based line), so that a
/// user can open the file and fix it. Loaders and partitioners throw only this type.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file (as given to the loader) or a pseudo-source such as `"partition"`.
    public var file: String
    /// 1-based line number, when the problem is on one line of a text file.
    public var line: Int?
    public var message: String

    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// Compiler-style `file:line: message`, which editors and terminals make clickable.
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
