import FedData
import Foundation
import XCTest

/// A fresh temporary directory per test, removed afterwards.
class TempDirectoryTestCase: XCTestCase {
    private(set) var directory = ""

    override func setUpWithError() throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("FedDataTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Writes `text` to `name` in the temporary directory and returns the path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, bytes: Array(text.utf8))
    }

    @discardableResult
    func write(_ name: String, bytes: [UInt8]) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Asserts that `body` throws a DataError for `file` (and `line`, if given) whose
    /// description contains `fragment`.
    func assertDataError<T>(
        _ body: @autoclosure () throws -> T, file errorFile: String, line errorLine: Int?, contains fragment: String,
        sourceFile: StaticString = #filePath, sourceLine: UInt = #line
    ) {
        do {
            _ = try body()
            XCTFail("expected a DataError containing \"\(fragment)\"", file: sourceFile, line: sourceLine)
        } catch let error as DataError {
            XCTAssertEqual(error.file, errorFile, file: sourceFile, line: sourceLine)
            XCTAssertEqual(error.line, errorLine, "\(error)", file: sourceFile, line: sourceLine)
            XCTAssertTrue(
                error.description.contains(fragment), "\"\(error)\" lacks \"\(fragment)\"", file: sourceFile,
                line: sourceLine)
            if let errorLine {
                XCTAssertTrue(
                    error.description.hasPrefix("\(errorFile):\(errorLine): "), "\(error)", file: sourceFile,
                    line: sourceLine)
            }
        } catch {
            XCTFail("expected DataError, got \(error)", file: sourceFile, line: sourceLine)
        }
    }
}

/// Number of samples per class.
func classHistogram(_ labels: [Int32], classCount: Int) -> [Int] {
    var counts = [Int](repeating: 0, count: classCount)
    for label in labels { counts[Int(label)] += 1 }
    return counts
}
