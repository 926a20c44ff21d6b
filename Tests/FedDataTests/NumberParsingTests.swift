import FedCore
import Foundation
import XCTest

@testable import FedData

final class NumberParsingTests: XCTestCase {
    /// The fast decimal path must give exactly what `Double(String)` gives.
    func testFastDecimalPathMatchesStandardLibrary() {
        var rng = SeededRandom(seed: 5)
        for _ in 0..<20_000 {
            let sign = ["", "-", "+"][rng.nextInt(below: 3)]
            let whole = String(rng.nextInt(below: 1_000_000_000))
            let fraction = String(String(rng.nextInt(below: 1_000_000_000)).prefix(rng.nextInt(below: 8)))
            let text = sign + whole + (fraction.isEmpty && rng.nextInt(below: 2) == 0 ? "" : "." + fraction)
            XCTAssertEqual(TextParsing.number(ArraySlice(text.utf8)), Double(text), text)
        }
        for text in ["1e3", "0x1p3", " 7 ", "1234567890123456789", ".5", "5.", "-", ".", "", "1.2.3", "nan", "-inf"] {
            let expected = Double(text.trimmingCharacters(in: .whitespaces))
            XCTAssertEqual(TextParsing.number(ArraySlice(text.utf8))?.bitPattern, expected?.bitPattern, text)
        }
    }
}
