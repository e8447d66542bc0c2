// The scalar reference backend: every op is the plain loop in ScalarOps. Slow; it is the definition the fast
// CPU backend and the CUDA backend are tested against, and what a newcomer reads to learn what an op means.
namespace BatchVlm.Engine.Backends.Cpu;

public sealed class ReferenceBackend : CpuBackendBase
{
    public static readonly ReferenceBackend Instance = new();

    public override string Name => "cpu-reference";
}
