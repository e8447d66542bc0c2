// The generation loop: greedy, seeded sampling and beam search over any IAutoregressiveModel, starting from a
// model's prefill. Follows transformers 4.46.1 generation/utils.py (_sample, _beam_search) and beam_search.py
// (BeamSearchScorer.process/finalize); REFERENCE.md in this folder lists the exact rules. Per-sequence stopping:
// a row that emits an eos id (or reaches MaxNewTokens) stops, and finished rows are dropped from the decoder state
// so later steps only compute the rows still running (HF keeps computing them and writes pad ids).
namespace BatchVlm.Engine.Generation;

using BatchVlm.Engine.Tensors;

public static class Generator
{
    /// <summary>Generates from a prefilled state. Takes ownership of <paramref name="prefilled"/> (its state and logits are
    /// disposed before returning).</summary>
    public static GenerationResult Generate(IAutoregressiveModel model, Prefilled prefilled, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prefilled);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(model.VocabSize);
        var logits = prefilled.LastLogits;
        if (logits.Rank != 2 || logits.Dim(0) != prefilled.State.BatchSize || logits.Dim(1) != model.VocabSize)
            throw new ArgumentException(
                $"prefill logits have shape {Tensor.ShapeString(logits.Shape)}, expected ({prefilled.State.BatchSize}, {model.VocabSize})");
        try
        {
            return options.NumBeams > 1
                ? BeamSearch(model, prefilled.State, logits, options)
                : GreedyOrSample(model, prefilled.State, logits, options);
        }
        finally
        {
            prefilled.State.Dispose();
        }
    }

    private static GenerationResult GreedyOrSample(IAutoregressiveModel model, IDecoderState state, Tensor logits,
        GenerationOptions o)
    {
        int batch = state.BatchSize, vocab = model.VocabSize;
        var tokens = new List<int>[batch];
        var finish = new FinishReason[batch];
        var scores = new double[batch];
        var rngs = new SplitMix64?[batch];
        for (int r = 0; r < batch; r++)
        {
            tokens[r] = new List<int>(o.MaxNewTokens);
            finish[r] = FinishReason.Length;
            if (o.DoSample) rngs[r] = SplitMix64.ForRow(o.Seed, r);
        }
        var stepLogits = o.OutputLogits ? new List<float[]>() : null;
        var eos = new HashSet<int>(o.EosTokenIds);
        // Buffers sized for the full batch and reused every step; the first `rows` entries are live.
        var active = Enumerable.Range(0, batch).ToArray(); // original row of each state row
        var host = new float[batch * vocab];               // (rows, V) logits read back from the model
        var next = new int[batch];
        var keep = new int[batch];
        var work = new float[vocab];
        var logProbs = new float[vocab];
        int rows = batch, steps = 0;
        while (true)
        {
            logits.Backend.Read(logits, host.AsSpan(0, rows * vocab));
            logits.Dispose();
            if (stepLogits is not null)
            {
                var all = new float[batch * vocab];
                Array.Fill(all, float.NaN);
                for (int i = 0; i < rows; i++)
                    Array.Copy(host, i * vocab, all, active[i] * vocab, vocab);
                stepLogits.Add(all);
            }
            int kept = 0;
            for (int i = 0; i < rows; i++)
            {
                int row = active[i];
                var raw = host.AsSpan(i * vocab, vocab);
                int token;
                if (o.DoSample)
                {
                    raw.CopyTo(work);
                    LogitsWarpers.Warp(work, o.Temperature, o.TopK, o.TopP);
                    token = LogitsWarpers.Sample(work, rngs[row]!.NextDouble());
                    LogitsWarpers.LogSoftmax(work, logProbs);
                }
                else
                {
                    token = LogitsWarpers.ArgMax(raw);
                    LogitsWarpers.LogSoftmax(raw, logProbs);
                }
                scores[row] += logProbs[token];
                tokens[row].Add(token);
                next[i] = token;
                if (eos.Contains(token)) finish[row] = FinishReason.Eos;
                else if (tokens[row].Count < o.MaxNewTokens) keep[kept++] = i;
            }
            if (kept == 0) break;
            if (kept < rows)
            {
                state.SelectRows(keep.AsSpan(0, kept));
                for (int j = 0; j < kept; j++) // in place: keep is increasing, so keep[j] >= j
                {
                    next[j] = next[keep[j]];
                    active[j] = active[keep[j]];
                }
                rows = kept;
            }
            logits = model.DecodeStep(state, next.AsSpan(0, rows));
            steps++;
        }
        var seqs = new GeneratedSequence[batch];
        for (int r = 0; r < batch; r++) seqs[r] = new GeneratedSequence(tokens[r], finish[r], scores[r]);
        return new GenerationResult(seqs, stepLogits, steps);
    }

    private static GenerationResult BeamSearch(IAutoregressiveModel model, IDecoderState state, Tensor logits,
        GenerationOptions o)
    {
        int batch = state.BatchSize, vocab = model.VocabSize, beams = o.NumBeams;
        var eos = new HashSet<int>(o.EosTokenIds);
        // Expand every input row to NumBeams identical rows (HF expands the inputs before the prefill; the rows are
        // identical, so expanding the prefilled state is the same computation done once).
        var expand = new int[batch * beams];
        for (int b = 0; b < batch; b++)
            for (int k = 0; k < beams; k++) expand[b * beams + k] = b;
        state.SelectRows(expand);
        var host = new float[batch * beams * vocab]; // (live rows · beams, V), reused every step
        {
            float[] prefill = logits.ToFloatArray(); // (batch, V)
            logits.Dispose();
            for (int i = 0; i < expand.Length; i++) Array.Copy(prefill, expand[i] * vocab, host, i * vocab, vocab);
        }

        var hyps = new BeamHypotheses[batch];
        for (int b = 0; b < batch; b++) hyps[b] = new BeamHypotheses(beams, o.LengthPenalty, o.EarlyStopping, o.MaxNewTokens);
        var beamScores = new double[batch * beams];
        for (int b = 0; b < batch; b++)
            for (int k = 1; k < beams; k++) beamScores[b * beams + k] = -1e9; // only beam 0 is live at the start
        var beamTokens = new int[batch * beams][];
        for (int i = 0; i < beamTokens.Length; i++) beamTokens[i] = [];
        var stepLogits = o.OutputLogits ? new List<float[]>() : null;
        int keepCandidates = Math.Max(2, 1 + eos.Count) * beams;
        var logProbs = new float[vocab];
        var top = new PriorityQueue<(int Beam, int Token, double Score), (double, int)>(keepCandidates + 1);
        var ranked = new List<(int Beam, int Token, double Score)>(keepCandidates);
        var chosen = new List<(int Beam, int Token, double Score)>(beams);
        int steps = 0;
        // Batch rows still searching, and their rows in the decoder state (beams consecutive).
        var live = Enumerable.Range(0, batch).ToList();
        for (int step = 0; ; step++)
        {
            if (stepLogits is not null)
            {
                var all = new float[batch * beams * vocab];
                Array.Fill(all, float.NaN);
                for (int li = 0; li < live.Count; li++)
                    Array.Copy(host, li * beams * vocab, all, live[li] * beams * vocab, beams * vocab);
                stepLogits.Add(all);
            }
            int generated = step + 1; // HF cur_len - decoder_prompt_len after this step's token
            var nextSource = new List<int>(live.Count * beams);
            var nextTokens = new List<int>(live.Count * beams);
            var nextLive = new List<int>(live.Count);
            var nextScores = new List<double>(live.Count * beams);
            var nextBeamTokens = new List<int[]>(live.Count * beams);
            for (int li = 0; li < live.Count; li++)
            {
                int b = live[li];
                // Candidates over (beam, token): log_softmax + running beam score; keep the best keepCandidates.
                top.Clear();
                for (int k = 0; k < beams; k++)
                {
                    int stateRow = li * beams + k;
                    LogitsWarpers.LogSoftmax(host.AsSpan(stateRow * vocab, vocab), logProbs);
                    double baseScore = beamScores[b * beams + k];
                    for (int t = 0; t < vocab; t++)
                    {
                        // f32 sum as HF adds the f32 beam score to f32 log-probs
                        double s = (float)(logProbs[t] + (float)baseScore);
                        int flat = k * vocab + t;
                        // priority: (score, -flat) so that among equal scores the lower flat index ranks higher
                        if (top.Count < keepCandidates) top.Enqueue((k, t, s), (s, -flat));
                        else if (top.TryPeek(out _, out var worst) && (s > worst.Item1 || (s == worst.Item1 && -flat > worst.Item2)))
                            top.EnqueueDequeue((k, t, s), (s, -flat));
                    }
                }
                ranked.Clear();
                while (top.Count > 0) ranked.Add(top.Dequeue());
                ranked.Reverse(); // best first
                int filled = 0;
                chosen.Clear();
                for (int rank = 0; rank < ranked.Count && filled < beams; rank++)
                {
                    var c = ranked[rank];
                    if (eos.Contains(c.Token))
                    {
                        if (rank >= beams) continue; // an eos ranked below the top NumBeams is not a hypothesis
                        hyps[b].Add(beamTokens[b * beams + c.Beam].ToArray(), c.Score, generated, endsWithEos: true);
                    }
                    else
                    {
                        chosen.Add(c);
                        filled++;
                    }
                }
                double bestCandidate = ranked[0].Score;
                bool done = hyps[b].IsDone(bestCandidate, generated);
                // Beams run out of length after this step: HF finalize adds them as open hypotheses.
                bool lengthReached = generated >= o.MaxNewTokens;
                if (done || lengthReached)
                {
                    if (!done)
                        foreach (var c in chosen)
                        {
                            var seq = beamTokens[b * beams + c.Beam].Append(c.Token).ToArray();
                            hyps[b].Add(seq, c.Score, seq.Length, endsWithEos: false);
                        }
                    hyps[b].Done = true;
                    continue;
                }
                nextLive.Add(b);
                foreach (var c in chosen)
                {
                    nextSource.Add(li * beams + c.Beam);
                    nextTokens.Add(c.Token);
                    nextScores.Add(c.Score);
                    nextBeamTokens.Add(beamTokens[b * beams + c.Beam].Append(c.Token).ToArray());
                }
            }
            if (nextLive.Count == 0) break;
            for (int li = 0; li < nextLive.Count; li++)
                for (int k = 0; k < beams; k++)
                {
                    int b = nextLive[li];
                    beamScores[b * beams + k] = nextScores[li * beams + k];
                    beamTokens[b * beams + k] = nextBeamTokens[li * beams + k];
                }
            state.SelectRows(nextSource.ToArray());
            live = nextLive;
            using (var stepOut = model.DecodeStep(state, nextTokens.ToArray()))
                stepOut.Backend.Read(stepOut, host.AsSpan(0, live.Count * beams * vocab));
            steps++;
        }

        var seqs = new GeneratedSequence[batch];
        for (int b = 0; b < batch; b++)
        {
            var (score, toks, endsWithEos) = hyps[b].Best();
            var list = toks.ToList();
            if (endsWithEos) list.Add(o.EosTokenIds[0]);
            seqs[b] = new GeneratedSequence(list, endsWithEos ? FinishReason.Eos : FinishReason.Length, score);
        }
        return new GenerationResult(seqs, stepLogits, steps);
    }
}
