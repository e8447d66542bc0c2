// The finished-hypothesis list of one input row in beam search: keeps the NumBeams best finished sequences by
// length-penalised score and answers "can any live beam still do better?". Follows transformers 4.46.1
// generation/beam_search.py BeamHypotheses (add / is_done with generated_len and decoder_prompt_len).
namespace BatchVlm.Engine.Generation;

internal sealed class BeamHypotheses
{
    private readonly int _numBeams;
    private readonly float _lengthPenalty;
    private readonly BeamEarlyStopping _earlyStopping;
    private readonly int _maxNewTokens;
    private readonly List<(double Score, int[] Tokens, bool EndsWithEos)> _beams = new();
    private double _worstScore = 1e9;

    public BeamHypotheses(int numBeams, float lengthPenalty, BeamEarlyStopping earlyStopping, int maxNewTokens)
    {
        _numBeams = numBeams;
        _lengthPenalty = lengthPenalty;
        _earlyStopping = earlyStopping;
        _maxNewTokens = maxNewTokens;
    }

    public int Count => _beams.Count;
    public bool Done { get; set; }

    /// <param name="tokens">new tokens of the hypothesis (without the eos that ends it)</param>
    /// <param name="generatedLength">HF's generated_len: new tokens counted with the eos when it ended on one</param>
    public void Add(int[] tokens, double sumLogProbs, int generatedLength, bool endsWithEos)
    {
        double score = sumLogProbs / Math.Pow(generatedLength, _lengthPenalty);
        if (_beams.Count < _numBeams || score > _worstScore)
        {
            _beams.Add((score, tokens, endsWithEos));
            if (_beams.Count > _numBeams)
            {
                // Remove the worst; the new worst is the second-worst before removal (HF sorts (score, index)).
                int worst = 0;
                for (int i = 1; i < _beams.Count; i++)
                    if (_beams[i].Score < _beams[worst].Score) worst = i;
                _beams.RemoveAt(worst);
                _worstScore = _beams.Min(b => b.Score);
            }
            else
            {
                _worstScore = Math.Min(score, _worstScore);
            }
        }
    }

    /// <param name="bestSumLogProbs">best candidate score among live beams this step</param>
    /// <param name="generatedLength">cur_len - decoder_prompt_len of HF (new tokens including this step's)</param>
    public bool IsDone(double bestSumLogProbs, int generatedLength)
    {
        if (_beams.Count < _numBeams) return false;
        switch (_earlyStopping)
        {
            case BeamEarlyStopping.Always:
                return true;
            case BeamEarlyStopping.Heuristic:
                return _worstScore >= bestSumLogProbs / Math.Pow(generatedLength, _lengthPenalty);
            default:
                double highest = _lengthPenalty > 0
                    ? bestSumLogProbs / Math.Pow(_maxNewTokens, _lengthPenalty)
                    : bestSumLogProbs / Math.Pow(generatedLength, _lengthPenalty);
                return _worstScore >= highest;
        }
    }

    /// <summary>The best hypothesis (HF sorts by score and pops the last: the highest, the later one on ties).</summary>
    public (double Score, int[] Tokens, bool EndsWithEos) Best()
    {
        var best = _beams[0];
        foreach (var b in _beams)
            if (b.Score >= best.Score) best = b;
        return best;
    }
}
