import FedData
import Foundation
import XCTest

final class DirectoryLoaderTests: TempDirectoryTestCase {
    func testOneClientPerFileSortedWithSharedWidthAndClassCount() throws {
        try write("b.svm", "1 1:1\n0 2:1\n")
        try write("a.txt", "3 5:1\n")
        try write("c.libsvm", "0 1:2\n")
        try write("notes.md", "ignored")
        try write(".hidden.svm", "9 9:9\n")
        let clients = try DataLoader.directory(path: directory, task: .classification)
        XCTAssertEqual(clients.count, 3)
        XCTAssertEqual(clients.map(\.count), [1, 2, 1])  // a.txt, b.svm, c.libsvm
        XCTAssertEqual(Set(clients.map(\.featureCount)), [5])
        XCTAssertEqual(Set(clients.map(\.classCount)), [4])
        XCTAssertEqual(clients[1].features, [1, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    }

    func testCSVClientsMustAgreeOnWidth() throws {
        try write("client0.csv", "0,1,2\n1,3,4\n")
        try write("client1.csv", "2,5,6\n")
        let clients = try DataLoader.directory(path: directory, task: .classification)
        XCTAssertEqual(clients.map(\.featureCount), [2, 2])
        XCTAssertEqual(clients.map(\.classCount), [3, 3])
        let odd = try write("client2.csv", "1,2,3,4\n")
        assertDataError(
            try DataLoader.directory(path: directory, task: .classification), file: odd, line: nil,
            contains: "has 3 features but")
    }

    func testErrorsInsideAFileAndEmptyDirectories() throws {
        assertDataError(
            try DataLoader.directory(path: directory, task: .regression), file: directory, line: nil,
            contains: "no client files")
        let bad = try write("x.svm", "1 1:1\n1 1:a\n")
        assertDataError(
            try DataLoader.directory(path: directory, task: .regression), file: bad, line: 2,
            contains: "is not a number")
        let missing = directory + "/nope"
        assertDataError(
            try DataLoader.directory(path: missing, task: .regression), file: missing, line: nil,
            contains: "no such directory")
    }
}
