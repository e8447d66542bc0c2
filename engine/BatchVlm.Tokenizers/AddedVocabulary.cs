// Added tokens (special or not) and how they are cut out of the raw text before normalization: leftmost-longest,
// case-sensitive, with lstrip/rstrip eating neighbouring whitespace and single_word requiring word boundaries
// (tokenizers src/tokenizer/added_vocabulary.rs; transformers' slow Trie.split + AddedToken stripping gives the same
// cuts). Matching is always on the raw text: `normalized: true` tokens are not re-matched after normalization (no
// checkpoint we serve relies on that).
using BatchVlm.Tokenizers.Core;

namespace BatchVlm.Tokenizers;

/// <summary>A token matched atomically in the input (tokenizer.json `added_tokens`, tokenizer_config `added_tokens_decoder`).</summary>
public sealed record AddedToken(string Content, int Id, bool Special, bool LStrip = false, bool RStrip = false,
    bool SingleWord = false, bool Normalized = false);

internal sealed class AddedVocabulary
{
    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public AddedToken? Token;
    }

    private readonly Node _root = new();
    private readonly bool[] _firstChar = new bool[65536];
    private readonly Dictionary<int, AddedToken> _byId = new();
    private readonly Dictionary<string, AddedToken> _byContent = new(StringComparer.Ordinal);
    private readonly List<AddedToken> _tokens = new();

    public IReadOnlyList<AddedToken> Tokens => _tokens;
    public bool IsEmpty => _tokens.Count == 0;

    public void Add(AddedToken token)
    {
        if (token.Content.Length == 0) return;
        if (_byContent.TryGetValue(token.Content, out var old))
        {
            // Re-registering keeps the first id (transformers keeps the existing id too) but takes the new flags.
            token = token with { Id = old.Id };
            _tokens.Remove(old);
        }
        _tokens.Add(token);
        _byContent[token.Content] = token;
        _byId[token.Id] = token;
        var node = _root;
        foreach (char c in token.Content)
        {
            node.Children ??= new Dictionary<char, Node>();
            if (!node.Children.TryGetValue(c, out var next)) node.Children[c] = next = new Node();
            node = next;
        }
        node.Token = token;
        _firstChar[token.Content[0]] = true;
    }

    public AddedToken? ById(int id) => _byId.GetValueOrDefault(id);
    public AddedToken? ByContent(string content) => _byContent.GetValueOrDefault(content);

    /// <summary>A piece of input: either text to run through the model or one added token.</summary>
    public readonly record struct Segment(int Start, int End, AddedToken? Token);

    /// <summary>Whether <paramref name="text"/> has any character an added token starts with (else no split is needed).</summary>
    public bool MayMatch(string text)
    {
        var first = _firstChar;
        foreach (char c in text) if (first[c]) return true;
        return false;
    }

    /// <summary>Cuts <paramref name="text"/> into text segments and added tokens.</summary>
    public void Split(string text, List<Segment> output)
    {
        if (_tokens.Count == 0) { if (text.Length > 0) output.Add(new Segment(0, text.Length, null)); return; }
        int textStart = 0;
        int i = 0;
        while (i < text.Length)
        {
            if (!_firstChar[text[i]]) { i++; continue; }
            var match = LongestAt(text, i);
            if (match == null || (match.SingleWord && !IsWordBoundaryMatch(text, i, i + match.Content.Length)))
            {
                i++;
                continue;
            }
            int start = i, end = i + match.Content.Length;
            if (match.LStrip) while (start > textStart && UnicodeText.IsWhiteSpace(text[start - 1])) start--;
            if (match.RStrip) while (end < text.Length && UnicodeText.IsWhiteSpace(text[end])) end++;
            if (start > textStart) output.Add(new Segment(textStart, start, null));
            output.Add(new Segment(start, end, match));
            textStart = i = end;
        }
        if (textStart < text.Length) output.Add(new Segment(textStart, text.Length, null));
    }

    private AddedToken? LongestAt(string text, int i)
    {
        var node = _root;
        AddedToken? best = null;
        for (int k = i; k < text.Length; k++)
        {
            if (node.Children == null || !node.Children.TryGetValue(text[k], out var next)) break;
            node = next;
            if (node.Token != null) best = node.Token;
        }
        return best;
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    private static bool IsWordBoundaryMatch(string text, int start, int end) =>
        (start == 0 || !IsWordChar(text[start - 1])) && (end == text.Length || !IsWordChar(text[end]));
}
