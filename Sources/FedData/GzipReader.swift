import CZlib
import Foundation

/// Reads a file through zlib: gzip-compressed files are inflated, plain files pass through
/// unchanged (zlib's transparent mode), so a loader need not care which one it was given.
/// Reads only the bytes asked for, so a small header can be checked before a large payload is
/// allocated and a gzip bomb cannot take more memory than the header declared.
final class GzipReader {
    private let file: gzFile
    let path: String

    init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(file: path, message: "no such file")
        }
        guard !isDirectory.boolValue else { throw DataError(file: path, message: "is a directory, expected a file") }
        guard let file = gzopen(path, "rb") else {
            throw DataError(file: path, message: "cannot open file (permission denied?)")
        }
        self.file = file
        self.path = path
    }

    deinit { gzclose(file) }

    /// Exactly `count` bytes; `orFail` makes the error when the file ends after fewer (it gets
    /// how many there were). Corrupt compressed data is an error of its own.
    func readAll(_ count: Int, orFail: (Int) -> DataError) throws -> [UInt8] {
        // In steps of at most 16 MB: a short file that declares a huge payload costs only what
        // it holds, not the declared size (libFuzzer found 36-byte files asking for a gigabyte).
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(count, 1 << 24))
        while bytes.count < count {
            let want = min(chunk.count, count - bytes.count)
            let got = try chunk.withUnsafeMutableBytes {
                try fill(UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]))
            }
            bytes.append(contentsOf: chunk[0..<got])
            if got < want { break }
        }
        guard bytes.count == count else { throw orFail(bytes.count) }
        return bytes
    }

    /// True when the file has no byte left.
    func atEnd() throws -> Bool {
        var byte: UInt8 = 0
        return try withUnsafeMutableBytes(of: &byte) { try fill($0) } == 0
    }

    /// Fills `buffer` as far as the file goes; returns how many bytes were read.
    private func fill(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let chunk = UInt32(min(buffer.count - done, 1 << 30))
            let n = gzread(file, buffer.baseAddress! + done, chunk)
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown error"
                throw DataError(file: path, message: "corrupt gzip data: \(message)")
            }
            if n == 0 { break }
            done += Int(n)
        }
        return done
    }
}
