import FedData
import XCTest

final class TaskNameTests: XCTestCase {
    /// Importing FedData must leave Swift concurrency's `Task` usable unqualified.
    func testConcurrencyTaskStillUsable() async {
        let value = await Task { 41 + 1 }.value
        XCTAssertEqual(value, 42)
        XCTAssertEqual(DataTask.allCases, [.classification, .regression])
        XCTAssertEqual(DataLoader.Task(rawValue: "regression"), .regression)
    }
}
