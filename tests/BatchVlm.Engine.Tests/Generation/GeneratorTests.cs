// The generation loop on the gemma-tiny checkpoint and on a small table-driven model: left-padded batches equal
// one-at-a-time runs, per-row stopping at eos, seeded sampling, and beam search against an exhaustive search.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Models;
using BatchVlm.Engine.Tensors;
using BatchVlm.Engine.Tests.Models;

namespace BatchVlm.Engine.Tests.Generation;

public sealed class GeneratorTests
{
    private static readonly Lazy<GemmaForCausalLM> Gemma = new(() => GemmaForCausalLM.Load(GemmaFixture.Dir("gemma-tiny"), CpuBackend.Default));

    private static int[][] Prompts(params int[] lengths)
    {
        var rng = new Random(1234);
        return lengths.Select(n => new[] { 2 }.Concat(Enumerable.Range(0, n - 1).Select(_ => rng.Next(3, 500))).ToArray()).ToArray();
    }

    [Fact]
    public void Generate_LeftPaddedBatch_SameIdsAndLogitsAsOneAtATime()
    {
        var model = Gemma.Value;
        var prompts = Prompts(3, 12, 7);
        var options = new GenerationOptions { MaxNewTokens = 10, OutputLogits = true };
        var batch = model.Generate(prompts, options);
        for (int r = 0; r < prompts.Length; r++)
        {
            var single = model.Generate([prompts[r]], options);
            Assert.Equal(single.Sequences[0].Tokens, batch.Sequences[r].Tokens);
            for (int s = 0; s < 10; s++)
            {
                var a = batch.StepLogits![s].AsSpan(r * model.VocabSize, model.VocabSize).ToArray();
                var b = single.StepLogits![s];
                double maxRef = b.Max(Math.Abs), maxDiff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
                Assert.True(maxDiff <= 2e-5 * Math.Max(1, maxRef), $"row {r} step {s}: max|diff| {maxDiff}");
            }
        }
    }

    [Fact]
    public void Generate_EosInOneRow_StopsOnlyThatRow()
    {
        var model = Gemma.Value;
        var prompts = Prompts(5, 9, 4);
        var free = model.Generate(prompts, new GenerationOptions { MaxNewTokens = 12 });
        // Make row 0's 4th new token the eos id: row 0 must stop there, every row must stop at its first occurrence of
        // that id, and rows that never produce it must be unchanged (the finished row's removal must not disturb them).
        int eos = free.Sequences[0].Tokens[3];
        var stopped = model.Generate(prompts, new GenerationOptions { MaxNewTokens = 12, EosTokenIds = [eos] });
        for (int r = 0; r < prompts.Length; r++)
        {
            var tokens = free.Sequences[r].Tokens;
            int first = tokens.ToList().IndexOf(eos);
            var want = first < 0 ? tokens : tokens.Take(first + 1).ToList();
            Assert.Equal(want, stopped.Sequences[r].Tokens);
            Assert.Equal(first < 0 ? FinishReason.Length : FinishReason.Eos, stopped.Sequences[r].Finish);
        }
        Assert.True(stopped.Sequences[0].Tokens.Count <= 4);
    }

    [Fact]
    public void Generate_AllRowsHitEos_StopsEarly()
    {
        var model = Gemma.Value;
        var prompts = Prompts(6);
        var free = model.Generate(prompts, new GenerationOptions { MaxNewTokens = 8 });
        int eos = free.Sequences[0].Tokens[1];
        var r = model.Generate(prompts, new GenerationOptions { MaxNewTokens = 8, EosTokenIds = [eos] });
        int stop = free.Sequences[0].Tokens.ToList().IndexOf(eos);
        Assert.Equal(stop + 1, r.Sequences[0].Tokens.Count);
        Assert.Equal(stop, r.Steps); // decode steps after the prefill: one per token after the first
    }

    [Fact]
    public void Sample_TopKOne_EqualsGreedy()
    {
        var model = Gemma.Value;
        var prompts = Prompts(5, 8);
        var greedy = model.Generate(prompts, new GenerationOptions { MaxNewTokens = 6 });
        var sampled = model.Generate(prompts, new GenerationOptions { MaxNewTokens = 6, DoSample = true, TopK = 1, Seed = 7 });
        for (int r = 0; r < 2; r++) Assert.Equal(greedy.Sequences[r].Tokens, sampled.Sequences[r].Tokens);
    }

    [Fact]
    public void Sample_SameSeed_Reproducible_DifferentSeed_Differs()
    {
        var model = Gemma.Value;
        var prompts = Prompts(5, 8);
        GenerationOptions O(ulong seed) => new() { MaxNewTokens = 12, DoSample = true, Temperature = 1.5f, TopK = 0, TopP = 0.95f, Seed = seed };
        var a = model.Generate(prompts, O(11));
        var b = model.Generate(prompts, O(11));
        var c = model.Generate(prompts, O(12));
        for (int r = 0; r < 2; r++) Assert.Equal(a.Sequences[r].Tokens, b.Sequences[r].Tokens);
        Assert.NotEqual(a.Sequences[0].Tokens, c.Sequences[0].Tokens);
        // Row 0 of a batch draws from the same stream as a single-row run with that seed.
        var single = model.Generate([prompts[0]], O(11));
        Assert.Equal(single.Sequences[0].Tokens, a.Sequences[0].Tokens);
    }

    [Fact]
    public void BeamSearch_Batched_EqualsOneAtATime_AndScoreIsLengthNormalisedLogProb()
    {
        var model = Gemma.Value;
        var prompts = Prompts(4, 10);
        var options = new GenerationOptions { MaxNewTokens = 6, NumBeams = 3, EosTokenIds = [1], LengthPenalty = 1.0f };
        var batch = model.Generate(prompts, options);
        for (int r = 0; r < prompts.Length; r++)
        {
            var single = model.Generate([prompts[r]], options);
            Assert.Equal(single.Sequences[0].Tokens, batch.Sequences[r].Tokens);
            // Re-score the chosen continuation with a plain forward: sum of log p(token | prefix) / length.
            var seq = batch.Sequences[r].Tokens;
            var full = prompts[r].Concat(seq).Select(x => (long)x).ToArray();
            var ids = new long[1, full.Length];
            for (int j = 0; j < full.Length; j++) ids[0, j] = full[j];
            using var o = model.Forward(ids);
            var logits = o.Logits.ToFloatArray();
            double sum = 0;
            var lp = new float[model.VocabSize];
            for (int s = 0; s < seq.Count; s++)
            {
                int pos = prompts[r].Length - 1 + s;
                LogitsWarpers.LogSoftmax(logits.AsSpan(pos * model.VocabSize, model.VocabSize), lp);
                sum += lp[seq[s]];
            }
            Assert.Equal(sum / seq.Count, batch.Sequences[r].Score, 3);
        }
    }

    [Theory]
    [InlineData(1.0f)]
    [InlineData(0.5f)]
    [InlineData(2.0f)]
    public void BeamSearch_WideBeams_FindExhaustiveBest(float lengthPenalty)
    {
        // Vocabulary {0, 1, eos=2}; 3 new tokens at most. With more beams than live paths nothing is pruned, so the
        // canonical search ("never") must return the best of all 15 finishable sequences by HF's score.
        var model = new TableModel(vocab: 3, seed: 5);
        var options = new GenerationOptions
        {
            MaxNewTokens = 3, NumBeams = 16, EosTokenIds = [2], LengthPenalty = lengthPenalty, EarlyStopping = BeamEarlyStopping.Never,
        };
        var r = Generator.Generate(model, model.Prefill(2), options);
        for (int row = 0; row < 2; row++)
        {
            var (bestTokens, bestScore) = model.Exhaustive(row, maxNew: 3, eos: 2, lengthPenalty);
            Assert.Equal(bestTokens, r.Sequences[row].Tokens);
            Assert.Equal(bestScore, r.Sequences[row].Score, 4);
        }
    }

    [Fact]
    public void Generate_BadOptions_ThrowNamingTheOption()
    {
        var model = Gemma.Value;
        var e = Assert.Throws<ArgumentException>(() => model.Generate(Prompts(3), new GenerationOptions { TopP = 0 }));
        Assert.Contains("TopP", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.Generate(Prompts(3), new GenerationOptions { NumBeams = 2 }));
        Assert.Contains("EosTokenId", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.Generate([[2, 9999]], new GenerationOptions()));
        Assert.Contains("9999", e.Message);
    }

    [Fact]
    public void Prefill_RightPadded_IsRejected()
    {
        var model = Gemma.Value;
        var ids = new long[,] { { 2, 5, 6 }, { 2, 7, 0 } };
        var mask = new long[,] { { 1, 1, 1 }, { 1, 1, 0 } };
        var e = Assert.Throws<ArgumentException>(() => model.Prefill(ids, mask, 4));
        Assert.Contains("left-padded", e.Message);
    }

    /// <summary>A model whose next-token log-probabilities depend only on the last token and the row (a fixed random
    /// table), so every sequence's score can be enumerated.</summary>
    private sealed class TableModel(int vocab, int seed) : IAutoregressiveModel
    {
        private readonly float[,,] _table = MakeTable(vocab, seed);
        private static readonly IBackend Be = ReferenceBackend.Instance;

        public int VocabSize => vocab;

        private static float[,,] MakeTable(int v, int seed)
        {
            var rng = new Random(seed);
            var t = new float[2, v + 1, v];
            for (int r = 0; r < 2; r++)
                for (int a = 0; a <= v; a++)
                    for (int b = 0; b < v; b++) t[r, a, b] = (float)(rng.NextDouble() * 4 - 2);
            return t;
        }

        private sealed class State(int[] rows, int[] last) : IDecoderState
        {
            public int[] Rows = rows;   // original row of each state row
            public int[] Last = last;   // last token (vocab = "start")
            public int BatchSize => Rows.Length;

            public void SelectRows(ReadOnlySpan<int> sourceRows)
            {
                var src = sourceRows.ToArray();
                Rows = src.Select(i => Rows[i]).ToArray();
                Last = src.Select(i => Last[i]).ToArray();
            }

            public void Dispose() { }
        }

        public Prefilled Prefill(int rows)
        {
            var s = new State(Enumerable.Range(0, rows).ToArray(), Enumerable.Repeat(vocab, rows).ToArray());
            return new Prefilled(s, Logits(s));
        }

        private Tensor Logits(State s)
        {
            var data = new float[s.BatchSize * vocab];
            for (int i = 0; i < s.BatchSize; i++)
                for (int t = 0; t < vocab; t++) data[i * vocab + t] = _table[s.Rows[i], s.Last[i], t];
            return Be.FromFloats(data, s.BatchSize, vocab);
        }

        public Tensor DecodeStep(IDecoderState state, ReadOnlySpan<int> tokens)
        {
            var s = (State)state;
            s.Last = tokens.ToArray();
            return Logits(s);
        }

        private double LogProb(int row, int last, int token)
        {
            var lp = new float[vocab];
            var logits = new float[vocab];
            for (int t = 0; t < vocab; t++) logits[t] = _table[row, last, t];
            LogitsWarpers.LogSoftmax(logits, lp);
            return lp[token];
        }

        public (int[] Tokens, double Score) Exhaustive(int row, int maxNew, int eos, float lengthPenalty)
        {
            int[] best = [];
            double bestScore = double.NegativeInfinity;
            void Walk(List<int> prefix, double sum)
            {
                int last = prefix.Count == 0 ? vocab : prefix[^1];
                for (int t = 0; t < vocab; t++)
                {
                    double s = sum + LogProb(row, last, t);
                    var seq = new List<int>(prefix) { t };
                    bool finished = t == eos || seq.Count == maxNew;
                    if (finished)
                    {
                        double score = s / Math.Pow(seq.Count, lengthPenalty);
                        if (score > bestScore) { bestScore = score; best = seq.ToArray(); }
                    }
                    else Walk(seq, s);
                }
            }
            Walk([], 0);
            return (best, bestScore);
        }
    }
}
