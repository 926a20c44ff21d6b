import FedOptim

/// The one binary layout of an optimizer state, used on the wire (`docs/PROTOCOL.md`), in
/// client snapshots and in checkpoints. A *header* — u64 step, u16 transform count T, then per
/// transform u16 slot count S, u16 scalar count C and C × f64 scalars — and the *data*: every
/// transform's slots back to back as Float32. Slot names are not stored: a state is decoded
/// against a template (a fresh state of the same optimizer), whose shape it must match.
public enum OptimizerStateCoding {
    public static func header(_ s: OptimizerState) -> [UInt8] {
        var w = ByteWriter()
        w.u64(UInt64(s.step))
        w.u16(UInt16(s.transforms.count))
        for t in s.transforms {
            w.u16(UInt16(t.names.count))
            w.u16(UInt16(t.scalars.count))
            for x in t.scalars { w.f64(x) }
        }
        return w.data
    }

    /// Every slot of every transform, back to back.
    public static func data(_ s: OptimizerState) -> [Float] {
        var data: [Float] = []
        data.reserveCapacity(s.transforms.reduce(0) { $0 + $1.storage.count })
        for t in s.transforms { data += t.storage }
        return data
    }

    /// Decodes a header and its data against `template`. With `requireFinite`, NaN or ±Inf
    /// anywhere is an error too. Lookahead's slow weights are not part of a state's encoding.
    public static func decode(
        header: [UInt8], data: [UInt8], template: OptimizerState, requireFinite: Bool
    ) throws -> OptimizerState {
        var r = ByteReader(header)
        guard header.count >= 10 else { throw ProtocolError.stateShape("state header has \(header.count) bytes") }
        let step = r.u64()
        let t = Int(r.u16())
        guard t == template.transforms.count else {
            throw ProtocolError.stateShape("\(t) transforms, expected \(template.transforms.count)")
        }
        var expectedLength = 10
        var result = template
        for (i, expected) in template.transforms.enumerated() {
            guard r.remaining >= 4 else { throw ProtocolError.stateShape("state header truncated") }
            let slots = Int(r.u16())
            let scalars = Int(r.u16())
            guard slots == expected.names.count, scalars == expected.scalars.count else {
                throw ProtocolError.stateShape(
                    "transform \(i) has \(slots) slots and \(scalars) scalars, "
                        + "expected \(expected.names.count) and \(expected.scalars.count)")
            }
            guard r.remaining >= 8 * scalars else { throw ProtocolError.stateShape("state header truncated") }
            result.transforms[i].scalars = (0..<scalars).map { _ in r.f64() }
            if requireFinite, let bad = result.transforms[i].scalars.firstIndex(where: { !$0.isFinite }) {
                throw ProtocolError.nonFinite(what: "state scalars", index: bad)
            }
            expectedLength += 4 + 8 * scalars
        }
        guard header.count == expectedLength else {
            throw ProtocolError.payloadLength(what: "state header", got: header.count, expected: expectedLength)
        }
        guard step <= UInt64(Int32.max) else { throw ProtocolError.stateShape("step \(step) is implausible") }
        result.step = Int(step)
        let total = template.transforms.reduce(0) { $0 + $1.storage.count }
        let values = try Float32LE.decode(data, what: "state data", count: total, requireFinite: requireFinite)
        var offset = 0
        for i in result.transforms.indices {
            let n = result.transforms[i].storage.count
            result.transforms[i].storage = Array(values[offset..<(offset + n)])
            offset += n
        }
        result.slowWeights = nil
        return result
    }
}
