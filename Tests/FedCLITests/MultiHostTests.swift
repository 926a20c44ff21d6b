import FedTestSupport
import Foundation
import XCTest

/// A federation across hosts: `Scripts/netns-test.sh` puts the coordinator and two client
/// processes in network namespaces of their own (10.77.0.x, CURVE), cuts one client's link
/// mid-run and requires the single-process run's final weights. Skipped where namespaces
/// cannot be made (the script exits 77).
final class MultiHostTests: XCTestCase {
    func testAFederationAcrossNamespacesSurvivesACutLink() throws {
        let (status, text) = try Fedsim.runScript("netns-test.sh", [Fedsim.binary.path])
        if status == 77 { throw XCTSkip(text) }
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("passed: the cut client was dropped, rejoined"), text)
        XCTAssertTrue(text.contains("declared dead"), text)
    }
}
