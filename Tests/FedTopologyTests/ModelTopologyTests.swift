import FedConfig
import FedModels
import FedTopology
import Foundation
import XCTest

/// `model: {kind: cnn}` and `{kind: sequential}`, and the image settings of `data`: read
/// strictly, written back resolved, and every mistake one error naming its key.
final class ModelTopologyTests: XCTestCase {
    private func parse(_ model: String, data: String = "{source: blobs}") throws -> Topology {
        try Topology.parse(
            "data: \(data)\nmodel: \(model)\nclients: {optimizer: {name: adamw}}\n", file: "t.yaml",
            baseDirectory: "/tmp")
    }

    private func error(_ model: String, data: String = "{source: blobs}") -> String {
        do {
            _ = try parse(model, data: data)
            return "no error"
        } catch { return "\(error)" }
    }

    func testLayersAndPresetsAreReadAndWrittenBack() throws {
        let t = try parse(
            """
            {kind: sequential, layers: [{layer: conv2d, channels: 8, kernel: 3, padding: 1}, relu,
                {layer: maxpool2d, kernel: 2}, {layer: avgpool2d, kernel: 3, stride: 1}, flatten,
                {layer: dense, units: 10, bias: false}, {layer: group_norm, groups: 2}, {layer: dropout, p: 0.25},
                {layer: residual, body: [{layer: dense, units: 10}, relu], shortcut: [{layer: group_norm, groups: 5}]}]}
            """)
        XCTAssertEqual(
            t.model.layers,
            [
                .conv2d(channels: 8, kernel: 3, stride: 1, padding: 1, bias: true), .relu,
                .maxPool2d(kernel: 2, stride: 2), .avgPool2d(kernel: 3, stride: 1), .flatten,
                .dense(units: 10, bias: false), .groupNorm(groups: 2), .dropout(probability: 0.25),
                .residual(body: [.dense(units: 10, bias: true), .relu], shortcut: [.groupNorm(groups: 5)]),
            ])
        let again = try Topology.parse(t.resolvedYAML(), baseDirectory: "/tmp")
        XCTAssertEqual(again.model, t.model)
        let cnn = try parse("{kind: cnn, preset: lenet5}", data: "{source: fashion-mnist, count: 500}")
        XCTAssertEqual(cnn.model.preset, .lenet5)
        XCTAssertEqual(try Topology.parse(cnn.resolvedYAML(), baseDirectory: "/tmp").model, cnn.model)
        XCTAssertEqual(try Topology.parse(cnn.resolvedYAML(), baseDirectory: "/tmp").data, cnn.data)
        XCTAssertEqual(cnn.data.source, .fashionMNIST(path: nil, trainCount: 500, testCount: 10_000))
    }

    func testMistakesNameTheirKey() {
        XCTAssertEqual(
            error("{kind: cnn}"),
            "t.yaml:2: model: missing required key 'preset' (one of: fedavg-cnn, lenet5, resnet8-gn)")
        XCTAssertEqual(
            error("{kind: cnn, preset: vgg}"),
            "t.yaml:2: model.preset: 'vgg' is not one of: fedavg-cnn, lenet5, resnet8-gn")
        XCTAssertEqual(
            error("{kind: cnn, preset: lenet5, bias: false}"), "t.yaml:2: model.bias: a cnn model sets bias per layer")
        XCTAssertEqual(error("{kind: mlp, preset: lenet5}"), "t.yaml:2: model.preset: only a cnn model takes a preset")
        XCTAssertEqual(
            error("{kind: sequential}"),
            "t.yaml:2: model: missing required key 'layers' (a list of layers) for a sequential model")
        XCTAssertEqual(
            error("{kind: sequential, layers: [{layer: dense}]}"),
            "t.yaml:2: model.layers[0]: missing required key 'units' for a dense layer")
        XCTAssertEqual(
            error("{kind: sequential, layers: [{layer: conv2d, channels: 4, kernel: 3, units: 2}]}"),
            "t.yaml:2: model.layers[0].units: 'units' is not a setting of a conv2d layer")
        XCTAssertEqual(
            error("{kind: sequential, layers: [{layer: conv2d, channels: 4, kernal: 3}]}"),
            "t.yaml:2: model.layers[0]: a conv2d layer needs 'channels' and 'kernel'")
        XCTAssertTrue(error("{kind: sequential, layers: [conv]}").contains("model.layers[0]: 'conv' is not a layer"))
        XCTAssertEqual(
            error("{kind: sequential, layers: [{layer: residual, shortcut: [relu]}]}"),
            "t.yaml:2: model.layers[0]: a residual layer needs a 'body' list of layers")
        XCTAssertEqual(
            error("{kind: sequential, layers: [{layer: residual, body: [{layer: dense}]}]}"),
            "t.yaml:2: model.layers[0].body[0]: missing required key 'units' for a dense layer")
        XCTAssertEqual(
            error("{kind: sequential, layers: [{layer: dropout, p: 1}]}"),
            "t.yaml:2: model.layers[0].p: 1 is outside [0, 1)")
        XCTAssertEqual(
            error("{kind: sequential, layers: [{layer: group_norm}]}"),
            "t.yaml:2: model.layers[0]: missing required key 'groups' for a group_norm layer")
        XCTAssertTrue(
            error("{kind: sequential, layers: [{layer: conv2d, channels: 0, kernel: 3}]}").contains(
                "model.layers[0].channels: 0 is outside [1, 100000]"))
        XCTAssertEqual(
            error("{kind: softmax}", data: "{source: fashion-mnist, test_fraction: 0.1}"),
            "t.yaml:1: data.test_fraction: fashion-mnist has its official test set (size it with data.test_count)")
        XCTAssertEqual(
            error("{kind: softmax}", data: "{source: fashion-mnist, count: 60001}"),
            "t.yaml:1: data.count: 60001 is outside [1, 60000]")
        XCTAssertEqual(
            error("{kind: softmax}", data: "{source: fashion-mnist, shape: [1, 28, 28]}"),
            "t.yaml:1: data.shape: fashion-mnist images carry their own shape")
        XCTAssertEqual(
            error("{kind: softmax}", data: "{source: blobs, shape: [1, 2, 3, 4]}"),
            "t.yaml:1: data.shape: expected 1 to 3 sizes ([features] or [channels, height, width])")
        XCTAssertEqual(
            error("{kind: softmax}", data: "{source: blobs, standardize: true, normalize: true}"),
            "t.yaml:1: data.normalize: give standardize (per feature) or normalize (per channel), not both")
    }
}
