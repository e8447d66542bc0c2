// OpenBLAS through P/Invoke (Debian libopenblas0: libopenblas.so.0), loaded on first use. Used as the reference
// in `batchvlm bench gemm`, measured in the same process as our GEMM. OpenBLAS reads OPENBLAS_CORETYPE and
// OPENBLAS_NUM_THREADS when it loads; .NET's Environment.SetEnvironmentVariable does not reach native getenv on
// Linux, so PrepareEnvironment edits the C environment (libc setenv/unsetenv) before the library is loaded.
using System.Runtime.InteropServices;

namespace BatchVlm.Engine.Backends.Cpu;

public static unsafe class OpenBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;
    private static readonly Lock Gate = new();
    private static IntPtr _lib;
    private static delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private static delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemv;
    private static delegate* unmanaged<int, void> _setThreads;
    private static delegate* unmanaged<IntPtr> _coreName;

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv(string name, string value, int overwrite);

    [DllImport("libc", EntryPoint = "unsetenv")]
    private static extern int UnsetEnv(string name);

    /// <summary>Removes OPENBLAS_CORETYPE (so OpenBLAS autodetects AVX-512 kernels on this CPU) and sets the thread
    /// count, in the C environment. Only effective before the first call that loads the library.</summary>
    public static void PrepareEnvironment(int threads)
    {
        if (_lib != IntPtr.Zero) return;
        Check("unsetenv(OPENBLAS_CORETYPE)", UnsetEnv("OPENBLAS_CORETYPE"));
        Check("setenv(OPENBLAS_NUM_THREADS)", SetEnv("OPENBLAS_NUM_THREADS", threads.ToString(System.Globalization.CultureInfo.InvariantCulture), 1));
    }

    private static void Check(string call, int status)
    {
        if (status != 0) throw new InvalidOperationException($"{call} failed with status {status} (errno {Marshal.GetLastPInvokeError()})");
    }

    public static bool TryLoad(out string? error)
    {
        lock (Gate)
        {
            error = null;
            if (_lib != IntPtr.Zero) return true;
            foreach (var name in new[] { "libopenblas.so.0", "libopenblas.so" })
            {
                if (!NativeLibrary.TryLoad(name, out var lib)) continue;
                _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(lib, "cblas_sgemm");
                _sgemv = (delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(lib, "cblas_sgemv");
                _setThreads = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(lib, "openblas_set_num_threads");
                _coreName = (delegate* unmanaged<IntPtr>)NativeLibrary.GetExport(lib, "openblas_get_corename");
                _lib = lib;
                return true;
            }
            error = "libopenblas.so.0 not found (Debian: apt-get install libopenblas0-pthread)";
            return false;
        }
    }

    private static void Require()
    {
        if (!TryLoad(out var error)) throw new DllNotFoundException(error);
    }

    /// <summary>The kernel family OpenBLAS picked ("cooperlake", "haswell", ...).</summary>
    public static string CoreName
    {
        get
        {
            Require();
            return Marshal.PtrToStringAnsi(_coreName()) ?? "?";
        }
    }

    public static void SetThreads(int threads)
    {
        Require();
        _setThreads(threads);
    }

    /// <summary>Row-major C[M×N] = A[M×K] · (transB ? B[N×K]ᵀ : B[K×N]).</summary>
    public static void Sgemm(int m, int n, int k, float* a, float* b, bool transB, float* c)
    {
        Require();
        _sgemm(RowMajor, NoTrans, transB ? Trans : NoTrans, m, n, k, 1f, a, k, b, transB ? k : n, 0f, c, n);
    }

    /// <summary>y[N] = W[N×K] · x[K].</summary>
    public static void Sgemv(int n, int k, float* w, float* x, float* y)
    {
        Require();
        _sgemv(RowMajor, NoTrans, n, k, 1f, w, k, x, 1, 0f, y, 1);
    }
}
