import FedTestSupport
import Foundation
import XCTest

/// A federation across hosts: `Scripts/netns-test.sh` puts the coordinator and two client
/// processes in network namespaces of their own (10.77.0.x, CURVE), delays and drops packets on
/// the client links, cuts one client's link mid-run and requires the single-process run's final
/// weights. Skipped where namespaces
/// cannot be made (the script exits 77).
final class MultiHostTests: XCTestCase {
    func testAFederationAcrossNamespacesSurvivesACutLink() throws {
        let (status, text) = try Fedsim.runScript("netns-test.sh", [Fedsim.binary.path])
        if status == 77 { throw XCTSkip(text) }
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("passed: the cut client was dropped, rejoined"), text)
        XCTAssertTrue(text.contains("declared dead"), text)
        // The client links were impaired (netem, or link-impair.py where the kernel has none),
        // and packets were really lost on them.
        XCTAssertTrue(text.contains("client links: 15 ± 5 ms delay and 2 % loss each way"), text)
        if !text.contains("by netem") {
            let dropped = text.split(separator: "\n").compactMap { line -> Int? in
                guard let range = line.range(of: #"packets, (\d+) dropped"#, options: .regularExpression) else {
                    return nil
                }
                return Int(line[range].split(separator: " ")[1])
            }
            XCTAssertEqual(dropped.count, 2, text)
            XCTAssertTrue(dropped.allSatisfy { $0 > 0 }, text)
        }
    }
}
