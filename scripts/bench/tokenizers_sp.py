#!/usr/bin/python3
# SentencePiece reference for `./batchvlm bench tokenizers` (Debian python3-sentencepiece 0.1.97, one thread).
#   gen OUT.txt [--mb 10.5]          deterministic mixed English/multilingual corpus from Debian's gettext catalogs
#                                    (/usr/share/locale/{de,ru,ko,zh_CN}/LC_MESSAGES/*.mo: English msgids, translated
#                                    msgstrs) + generated lines with numbers/dates/prices; 8 % code-switched; seed 42
#   train CORPUS PREFIX bpe|unigram  train a 32k model on the first 2 MB of the corpus (Gemma-like BPE: byte_fallback,
#                                    split_digits, no dummy prefix, identity normalization; unigram: nmt_nfkc defaults)
#   bench MODEL CORPUS [--runs 5]    encode line by line (Python loop of sp.encode(line)) and the whole text as one
#                                    string; prints one JSON object per mode (median seconds of N runs, tokens, bytes)
# Run with /usr/bin/python3 (the pyenv python3 first on PATH has no sentencepiece).
import json, os, random, struct, sys, time

def read_mo(path):
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 28:
        return []
    magic = struct.unpack('<I', data[:4])[0]
    end = '<' if magic == 0x950412de else '>'
    _, _, n, orig, trans = struct.unpack(end + '5I', data[:20])
    out = []
    for i in range(n):
        ol, oo = struct.unpack(end + '2I', data[orig + 8 * i: orig + 8 * i + 8])
        tl, to = struct.unpack(end + '2I', data[trans + 8 * i: trans + 8 * i + 8])
        mid = data[oo:oo + ol].split(b'\0')[0]
        mstr = data[to:to + tl].split(b'\0')[0]
        try:
            out.append((mid.decode('utf-8'), mstr.decode('utf-8')))
        except UnicodeDecodeError:
            pass
    return out

def catalog_strings(lang):
    d = f'/usr/share/locale/{lang}/LC_MESSAGES'
    pairs = []
    if os.path.isdir(d):
        for name in sorted(os.listdir(d)):
            if name.endswith('.mo'):
                pairs.extend(read_mo(os.path.join(d, name)))
    return [p for p in pairs if p[0] and p[1]]

def clean(s):
    return ' '.join(s.replace('\r', ' ').split('\n')).strip()

def gen(out, mb):
    rng = random.Random(42)
    langs = ['de', 'ru', 'ko', 'zh_CN']
    per = {l: catalog_strings(l) for l in langs}
    english = sorted({clean(m) for l in langs for m, _ in per[l] if clean(m)})
    trans = {l: sorted({clean(t) for _, t in per[l] if clean(t)}) for l in langs}
    words = {'en': ['order', 'shipped', 'at', 'total', 'price'], 'de': ['Bestellung', 'versandt', 'um', 'Gesamt', 'Preis'],
             'ru': ['заказ', 'отправлен', 'в', 'итого', 'цена'], 'ko': ['주문', '발송', '시간', '합계', '가격'],
             'zh_CN': ['订单', '已发货', '时间', '总计', '价格']}
    target = int(mb * 1e6)
    lines, size = [], 0
    while size < target:
        r = rng.random()
        if r < 0.06:
            lang = rng.choice(list(words))
            w = words[lang]
            line = (f"{w[0]} #{rng.randint(1000, 999999)} {w[1]} {w[2]} {rng.randint(2000, 2030)}-{rng.randint(1, 12):02d}-"
                    f"{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}; {w[3]}: {rng.randint(1, 99999)}."
                    f"{rng.randint(0, 99):02d} EUR ({w[4]} {rng.random() * 100:.2f} %)!")
        elif r < 0.14:
            a = rng.choice(english)
            b = rng.choice(trans[rng.choice(langs)])
            line = f"{a} — {b}"
        elif r < 0.14 + 0.86 * 0.36:
            line = rng.choice(english)
        else:
            line = rng.choice(trans[rng.choice(langs)])
        if not line:
            continue
        lines.append(line)
        size += len(line.encode('utf-8')) + 1
    with open(out, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    print(json.dumps({'corpus': out, 'bytes': os.path.getsize(out), 'lines': len(lines)}))

def train(corpus, prefix, kind):
    import sentencepiece as spm
    head = prefix + '.train.txt'
    with open(corpus, 'rb') as f:
        data = f.read(2_000_000)
    with open(head, 'wb') as f:
        f.write(data[:data.rfind(b'\n') + 1])
    common = dict(input=head, model_prefix=prefix, vocab_size=32000, character_coverage=0.9995, num_threads=2,
                  minloglevel=2)
    if kind == 'bpe':
        spm.SentencePieceTrainer.train(model_type='bpe', byte_fallback=True, split_digits=True, add_dummy_prefix=False,
                                       normalization_rule_name='identity', remove_extra_whitespaces=False,
                                       allow_whitespace_only_pieces=True, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
                                       pad_piece='<pad>', eos_piece='<eos>', bos_piece='<bos>', unk_piece='<unk>', **common)
    else:
        spm.SentencePieceTrainer.train(model_type='unigram', **common)
    os.remove(head)
    print(json.dumps({'model': prefix + '.model'}))

def bench(model, corpus, runs):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=model)
    with open(corpus, encoding='utf-8') as f:
        text = f.read()
    lines = text.split('\n')
    nbytes = len(text.encode('utf-8'))
    def per_line():
        n = 0
        enc = sp.encode
        for line in lines:
            n += len(enc(line))
        return n
    def whole():
        return len(sp.encode(text))
    for mode, fn in (('line_by_line', per_line), ('whole_text', whole)):
        fn()  # warm-up
        times, tokens = [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            tokens = fn()
            times.append(time.perf_counter() - t0)
        times.sort()
        print(json.dumps({'impl': 'sentencepiece ' + spm.__version__, 'model': os.path.basename(model), 'mode': mode,
                          'bytes': nbytes, 'tokens': tokens, 'seconds_median': times[len(times) // 2],
                          'seconds_min': times[0], 'seconds_max': times[-1], 'runs': runs}), flush=True)

if __name__ == '__main__':
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__ or 'usage: gen|train|bench')
    if a[0] == 'gen':
        gen(a[1], float(a[a.index('--mb') + 1]) if '--mb' in a else 10.5)
    elif a[0] == 'train':
        train(a[1], a[2], a[3])
    elif a[0] == 'bench':
        bench(a[1], a[2], int(a[a.index('--runs') + 1]) if '--runs' in a else 5)
    else:
        sys.exit(f'unknown command {a[0]}')
