// BLIP-2 parity against tests/fixtures/blip2-{opt,t5,itm}-tiny (HF transformers 4.46.1 outputs) and the high-level API.
namespace BatchVlm.Engine.Tests.Models;

public class Blip2Tests
{
    internal static long[,] To2D(long[] flat, int[] shape)
    {
        var r = new long[shape[0], shape[1]];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(long));
        return r;
    }
}
