using System.Text;
using System.Text.RegularExpressions;

namespace Bmcast.Tests.OsImages;

/// <summary>
/// The external commands a bash script calls, read from its text: the first word of every simple command (after
/// assignments, redirections and keywords), also inside <c>$(...)</c>, and not the script's own functions, shell
/// builtins, quoted text (a <c>sh -c '...'</c> run in a chroot is the guest's, not the host's), arithmetic or
/// <c>for</c> lists. Enough for the image recipes, which it is tested on; not a bash parser.
/// </summary>
internal static partial class ShellCommands
{
    private static readonly HashSet<string> Keywords =
        ["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "time", "{", "}"];

    private static readonly HashSet<string> SkipSegment = ["for", "case", "[[", "local", "declare", "export", "readonly"];

    private static readonly HashSet<string> Builtins =
    [
        ".", "source", ":", "[", "test", "true", "false", "echo", "printf", "read", "cd", "pwd", "set", "shift", "trap",
        "return", "exit", "exec", "eval", "wait", "command", "compgen", "continue", "break", "local", "type", "hash",
        "unset", "umask", "kill", "let", "mapfile", "readarray", "pushd", "popd", "shopt", "getopts",
    ];

    [GeneratedRegex(@"^\s*([A-Za-z_][\w-]*)\s*\(\)\s*\{", RegexOptions.Multiline)]
    private static partial Regex FunctionDefinition { get; }

    [GeneratedRegex(@"^[A-Za-z_]\w*(\[[^\]]*\])?\+?=")]
    private static partial Regex Assignment { get; }

    [GeneratedRegex(@"^\d*[<>]")]
    private static partial Regex Redirection { get; }

    /// <summary><c>2>&amp;1</c>, <c>>&amp;2</c>: gone before the code is split at <c>&amp;</c>.</summary>
    [GeneratedRegex(@"\d*[<>]&\d*")]
    private static partial Regex Duplication { get; }

    /// <summary>The names of the functions the script defines.</summary>
    public static IReadOnlySet<string> Functions(string script) =>
        FunctionDefinition.Matches(script).Select(m => m.Groups[1].Value).ToHashSet();

    /// <summary>Every command word the script calls that is neither a builtin nor one of <paramref name="functions"/>.</summary>
    public static IReadOnlySet<string> Called(string script, IReadOnlySet<string> functions)
    {
        var code = new StringBuilder();
        Scan(script, 0, code, closing: null);
        var commands = new HashSet<string>();
        foreach (string segment in Duplication.Replace(code.ToString(), " ").Split(['\n', ';', '|', '&', '(', ')', '`']))
        {
            foreach (string word in segment.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            {
                if (Keywords.Contains(word) || Assignment.IsMatch(word) || Redirection.IsMatch(word))
                    continue;
                if (!SkipSegment.Contains(word) && !Builtins.Contains(word) && !functions.Contains(word) && word[0] is not ('$' or '"' or '\'' or '-'))
                    commands.Add(word);
                break;
            }
        }
        return commands;
    }

    /// <summary>
    /// Copy code from <paramref name="i"/> to <paramref name="code"/> until <paramref name="closing"/> (at depth 0):
    /// comments, arithmetic and parameter expansions dropped, quoted text as a placeholder word, and the
    /// <c>$(...)</c> inside double quotes kept as code. Returns the index after the closing character.
    /// </summary>
    private static int Scan(string s, int i, StringBuilder code, char? closing)
    {
        int depth = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (c == closing && depth == 0)
                return i + 1;
            if (c == '#' && (i == 0 || char.IsWhiteSpace(s[i - 1]) || s[i - 1] == ';'))
                i = EndOfLine(s, i);
            else if (c == '\\')
                i += 2;
            else if (c == '\'')
            {
                i = s.IndexOf('\'', i + 1) + 1;
                code.Append(" 'Q' ");
            }
            else if (c == '"')
                i = ScanDoubleQuoted(s, i + 1, code);
            else if (s.AsSpan(i).StartsWith("$("))
                i = ScanSubstitution(s, i, code);
            else if (s.AsSpan(i).StartsWith("(("))
                i = SkipBalanced(s, i, '(', ')');
            else if (s.AsSpan(i).StartsWith("=("))
            {
                code.Append('=');
                i = SkipBalanced(s, i + 1, '(', ')'); // an array's words are not commands
            }
            else if (s.AsSpan(i).StartsWith("${"))
                i = SkipBalanced(s, i + 1, '{', '}');
            else
            {
                depth += c == '(' ? 1 : c == ')' ? -1 : 0;
                code.Append(c);
                i++;
            }
        }
        return i;
    }

    private static int ScanDoubleQuoted(string s, int i, StringBuilder code)
    {
        code.Append(" \"Q\" ");
        while (i < s.Length && s[i] != '"')
        {
            if (s[i] == '\\')
                i += 2;
            else if (s.AsSpan(i).StartsWith("$("))
                i = ScanSubstitution(s, i, code);
            else
                i++;
        }
        return i + 1;
    }

    /// <summary>At <c>$(</c>: arithmetic <c>$((...))</c> is skipped, a command substitution scanned as code of its own.</summary>
    private static int ScanSubstitution(string s, int i, StringBuilder code)
    {
        if (s.AsSpan(i).StartsWith("$(("))
            return SkipBalanced(s, i + 1, '(', ')');
        code.Append(" ( ");
        i = Scan(s, i + 2, code, ')');
        code.Append(" ) ");
        return i;
    }

    /// <summary>From the opening character at <paramref name="i"/> to just after its match.</summary>
    private static int SkipBalanced(string s, int i, char open, char close)
    {
        int depth = 0;
        for (; i < s.Length; i++)
        {
            depth += s[i] == open ? 1 : s[i] == close ? -1 : 0;
            if (depth == 0)
                return i + 1;
        }
        return i;
    }

    private static int EndOfLine(string s, int i)
    {
        int end = s.IndexOf('\n', i);
        return end < 0 ? s.Length : end;
    }
}
