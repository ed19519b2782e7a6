using System.Collections.Generic;

namespace StreamDiT.Core
{
    /// <summary>
    /// A bounded FIFO of frames where the latest win: adding to a full queue drops the oldest. Thread-safe (one
    /// lock; every operation is O(1) and never waits for anything but the lock).
    /// </summary>
    sealed class FrameQueue
    {
        readonly Queue<Frame> items;
        readonly int capacity;
        readonly object gate = new object();

        public FrameQueue(int capacity)
        {
            this.capacity = capacity;
            items = new Queue<Frame>(capacity);
        }

        public int Count
        {
            get { lock (gate) return items.Count; }
        }

        /// <summary>Adds <paramref name="frame"/>; returns the frame it dropped to make room, or null.</summary>
        public Frame Add(Frame frame)
        {
            lock (gate)
            {
                Frame dropped = items.Count >= capacity ? items.Dequeue() : null;
                items.Enqueue(frame);
                return dropped;
            }
        }

        public bool TryTake(out Frame frame)
        {
            lock (gate)
            {
                if (items.Count == 0)
                {
                    frame = null;
                    return false;
                }
                frame = items.Dequeue();
                return true;
            }
        }
    }
}
