import FedTopology
import Foundation
import XCTest

/// The writer (`resolvedYAML`, what a run saves as `topology.yaml`) is the third place that names
/// a topology's keys, beside the parser and `TopologyKeys`. Every shipped topology must come back
/// from it unchanged, so the writer can neither drop a setting nor write a key the parser does
/// not know (the parser refuses keys outside `TopologyKeys`).
final class TopologyRoundTripTests: XCTestCase {
    func testEveryShippedTopologyRoundTripsThroughTheWriter() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let folders = ["Topologies", "Topologies/experiments/bases"]
        var checked = 0
        for folder in folders {
            let dir = root.appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
            where file.hasSuffix(".yaml") {
                let path = dir.appendingPathComponent(file).path
                let topology = try Topology.load(file: path)
                let written = try topology.resolvedYAML()
                let again = try Topology.parse(written, baseDirectory: dir.path, defaultName: topology.name)
                // The writer resolves file paths against the topology's folder; all else must be equal.
                var expected = topology
                expected.data.source = again.data.source
                expected.model.initFile = again.model.initFile
                if expected.clock != nil { expected.clock?.tracePath = again.clock?.tracePath }
                XCTAssertEqual(again, expected, "\(folder)/\(file) changes when written and read back:\n\(written)")
                XCTAssertEqual(try again.resolvedYAML(), written, "\(folder)/\(file): the writer is not stable")
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 10)
    }
}
