import FedSimulation
import Foundation
import XCTest

final class EventLogTests: XCTestCase {
    /// A peer's text cannot forge a line, and a flood of one kind of message is logged 20 times
    /// and then once per 10,000, while the counters keep the exact numbers.
    func testLinesAreEscapedAndFloodsAreRateLimited() throws {
        let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "events-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: file) }
        let events = EventLog(file: file, prefix: "test", echo: false)
        events.log("peer says: fine\n2026-12-01T00:00:00Z all clients joined\u{7}")
        for i in 0..<25_000 {
            events.log(limited: true, "rejected a message from peer-\(i): bad magic")
            events.count("rejected.bad_magic")
        }
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(
            lines[0].hasSuffix("peer says: fine\\n2026-12-01T00:00:00Z all clients joined\\u{7}"), String(lines[0]))
        XCTAssertEqual(lines.count, 1 + 20 + 2, "20 lines, then the 10,000th and the 20,000th")
        XCTAssertTrue(lines.last!.contains("20000 such messages so far"), String(lines.last!))
        XCTAssertEqual(events.counters["rejected.bad_magic"], 25_000)
    }
}
