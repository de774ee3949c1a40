// The minimal core library: this assembly is ILC's system module, so it
// defines the types the C# compiler and ILC insist on, and nothing else.
// There is no GC and no allocator: objects only exist as frozen literals.
namespace System
{
    public class Object
    {
#pragma warning disable 169
        // The MethodTable pointer every object starts with.
        private IntPtr m_pMethodTable;
#pragma warning restore 169
    }

    public abstract class ValueType { }
    public abstract class Enum : ValueType { }
    public struct Void { }

    public abstract class Delegate { }
    public abstract class MulticastDelegate : Delegate { }

    public abstract class Array { }
    // ILC models T[] as deriving from Array<T>.
    public class Array<T> : Array { }

    public struct RuntimeTypeHandle { }
    public struct RuntimeMethodHandle { }
    public struct RuntimeFieldHandle { }
    public abstract class Type { }
    internal sealed class RuntimeType : Type { }

    public struct Nullable<T> where T : struct
    {
#pragma warning disable 169, 649
        private readonly bool _hasValue;
        private T _value;
#pragma warning restore 169, 649
    }

    public sealed class String
    {
#pragma warning disable 649
        // Layout fixed by ILC: length, then the UTF-16 characters inline.
        private readonly int _length;
        private char _firstChar;
#pragma warning restore 649

        public int Length => _length;

        [Runtime.CompilerServices.IndexerName("Chars")]
        public unsafe char this[int index]
        {
            get
            {
                fixed (char* p = &_firstChar)
                    return p[index];
            }
        }
    }
}
