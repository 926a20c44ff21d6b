import Foundation

/// A learning-rate schedule, evaluated per optimizer step.
///
/// Step `t` (1-based) uses the value a PyTorch scheduler holds after `t - 1` calls of
/// `scheduler.step()` — the usual `optimizer.step(); scheduler.step()` loop — in closed form.
public enum LearningRateSchedule: Codable, Sendable, Hashable {
    /// `η_t = η`.
    case constant
    /// `η_t = η · γ^⌊(t-1)/stepSize⌋` (torch `StepLR`).
    case step(stepSize: Int, gamma: Double)
    /// `η_t = η_min + (η - η_min)(1 + cos(π (t-1)/tMax))/2` (torch `CosineAnnealingLR`).
    case cosine(tMax: Int, etaMin: Double)
    /// Linear ramp of the factor from `startFactor` to 1 over `warmupSteps`, then constant
    /// (torch `LinearLR(start_factor, end_factor=1, total_iters)`).
    case linearWarmup(warmupSteps: Int, startFactor: Double)
    /// Cosine annealing restarted every `t0`, `t0·tMult`, … steps (SGDR, torch
    /// `CosineAnnealingWarmRestarts`).
    case warmRestarts(t0: Int, tMult: Int, etaMin: Double)

    /// The learning rate for 1-based optimizer step `step`, given the base rate.
    public func learningRate(base: Double, step: Int) -> Double {
        let e = max(step - 1, 0)
        switch self {
        case .constant:
            return base
        case .step(let stepSize, let gamma):
            return base * pow(gamma, Double(e / stepSize))
        case .cosine(let tMax, let etaMin):
            return etaMin + (base - etaMin) * (1 + cos(Double.pi * Double(e) / Double(tMax))) / 2
        case .linearWarmup(let warmupSteps, let startFactor):
            let progress = Double(min(e, warmupSteps)) / Double(warmupSteps)
            return base * (startFactor + (1 - startFactor) * progress)
        case .warmRestarts(let t0, let tMult, let etaMin):
            var period = t0
            var tCur = e
            while tCur >= period {
                tCur -= period
                period *= tMult
            }
            return etaMin + (base - etaMin) * (1 + cos(Double.pi * Double(tCur) / Double(period))) / 2
        }
    }
}
