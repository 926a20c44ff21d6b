import FedData
import XCTest

final class CSVLoaderTests: TempDirectoryTestCase {
    func testErrorDescriptionFormats() {
        XCTAssertEqual(
            DataError(file: "digits.csv", line: 17, message: "row has 64 values, expected 65").description,
            "digits.csv:17: row has 64 values, expected 65")
        XCTAssertEqual(DataError(file: "digits.csv", message: "file is empty").description, "digits.csv: file is empty")
    }

    func testHeaderlessFileUsesFirstColumnAsLabel() throws {
        let path = try write("a.csv", "1,0.5,2\n0,1.5,-3\r\n\n2, 7 ,1e2\n")
        let data = try DataLoader.csv(path: path, task: .classification)
        XCTAssertEqual(data.featureCount, 2)
        XCTAssertEqual(data.count, 3)
        XCTAssertEqual(data.labels, [1, 0, 2])
        XCTAssertEqual(data.classCount, 3)
        XCTAssertEqual(data.features, [0.5, 2, 1.5, -3, 7, 100])
    }

    func testByteOrderMarkIsIgnored() throws {
        let path = try write("bom.csv", bytes: [0xEF, 0xBB, 0xBF] + Array("1,2\n0,3\n".utf8))
        XCTAssertEqual(try DataLoader.csv(path: path, task: .classification).labels, [1, 0])
    }

    func testHeaderAndNamedLabelColumnForRegression() throws {
        let path = try write("b.csv", "x1,\"price\",x2\n1,2.5,3\n4,-1.25,6\n")
        let data = try DataLoader.csv(path: path, labelColumn: "price", task: .regression)
        XCTAssertEqual(data.targets, .values([2.5, -1.25]))
        XCTAssertEqual(data.features, [1, 3, 4, 6])
        XCTAssertFalse(data.isClassification)
    }

    /// One stray label among small ones once built a million-class model without a word.
    func testAStrayHugeLabelIsRefusedWithItsLine() throws {
        let stray = try write("stray.csv", "0,1.0\n1,2.0\n1000000,3.0\n")
        assertDataError(
            try DataLoader.csv(path: stray, task: .classification), file: stray, line: 3,
            contains: "label 1000000 is not valid: classification labels must be integers in 0...9999")
        XCTAssertEqual(
            try DataLoader.csv(path: try write("ok.csv", "9999,1.0\n0,2.0\n"), task: .classification).classCount,
            10_000)
    }

    func testRaggedRowNamesFileAndLine() throws {
        let path = try write("digits.csv", "label,a,b\n1,2,3\n0,1\n")
        assertDataError(
            try DataLoader.csv(path: path, task: .classification),
            file: path, line: 3, contains: "row has 2 values, expected 3")
    }

    func testNonNumericNaNAndInfinityAreRejected() throws {
        let text = try write("t.csv", "y,a\n1,2\n0,abc\n")
        assertDataError(
            try DataLoader.csv(path: text, task: .regression), file: text, line: 3,
            contains: "column 2 (\"a\"): \"abc\" is not a number")
        let nan = try write("n.csv", "1,2\n0,nan\n")
        assertDataError(try DataLoader.csv(path: nan, task: .regression), file: nan, line: 2, contains: "not finite")
        let inf = try write("i.csv", "1,2\n0,3\n1,-inf\n")
        assertDataError(try DataLoader.csv(path: inf, task: .regression), file: inf, line: 3, contains: "not finite")
        let huge = try write("h.csv", "1,1e300\n")
        assertDataError(
            try DataLoader.csv(path: huge, task: .regression), file: huge, line: 1, contains: "range of Float")
        let empty = try write("e.csv", "0,1\n1,\n")
        assertDataError(
            try DataLoader.csv(path: empty, task: .regression), file: empty, line: 2, contains: "\"\" is not a number")
    }

    func testClassificationLabelsMustBeNonNegativeIntegers() throws {
        let fractional = try write("f.csv", "0,1\n1.5,2\n")
        assertDataError(
            try DataLoader.csv(path: fractional, task: .classification), file: fractional, line: 2,
            contains: "label 1.5")
        let negative = try write("m.csv", "0,1\n1,2\n-1,2\n")
        assertDataError(
            try DataLoader.csv(path: negative, task: .classification), file: negative, line: 3, contains: "label -1")
        let integral = try write("ok.csv", "3.0,1\n")
        XCTAssertEqual(try DataLoader.csv(path: integral, task: .classification).classCount, 4)
    }

    func testEmptyFilesAndUnknownColumns() throws {
        let empty = try write("empty.csv", "")
        assertDataError(
            try DataLoader.csv(path: empty, task: .classification), file: empty, line: nil, contains: "file is empty")
        let blank = try write("blank.csv", "\n  \n")
        assertDataError(
            try DataLoader.csv(path: blank, task: .classification), file: blank, line: nil, contains: "file is empty")
        let headerOnly = try write("header.csv", "y,a\n")
        assertDataError(
            try DataLoader.csv(path: headerOnly, task: .classification), file: headerOnly, line: nil,
            contains: "no data rows")
        let named = try write("named.csv", "y,a,b\n1,2,3\n")
        assertDataError(
            try DataLoader.csv(path: named, labelColumn: "target", task: .classification), file: named, line: 1,
            contains: "unknown label column \"target\"; columns are: y, a, b")
        let headerless = try write("nohead.csv", "1,2\n")
        assertDataError(
            try DataLoader.csv(path: headerless, labelColumn: "y", task: .classification), file: headerless, line: 1,
            contains: "no header")
        let oneColumn = try write("one.csv", "1\n2\n")
        assertDataError(
            try DataLoader.csv(path: oneColumn, task: .regression), file: oneColumn, line: 1,
            contains: "at least one feature")
        let missing = directory + "/missing.csv"
        assertDataError(
            try DataLoader.csv(path: missing, task: .regression), file: missing, line: nil, contains: "no such file")
    }
}
